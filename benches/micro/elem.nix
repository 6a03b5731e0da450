# elem over a short evaluated list of integers and of strings, as the module system's option checks do
let l = builtins.genList (i: i) 20; s = builtins.genList (i: "s${toString i}") 20; in builtins.foldl' (a: i: a + (if builtins.elem (i - i / 20 * 20) l then 1 else 0) + (if builtins.elem "s19" s then 1 else 0)) 0 (builtins.genList (i: i) 50000)
