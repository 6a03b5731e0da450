# a function with formals and a default, given a set literal (a thunk)
let f = { a, b ? 2, ... }: a + b; in builtins.foldl' (acc: i: acc + f { a = i; c = 3; }) 0 (builtins.genList (x: x) 1000000)
