# string interpolation and toString
builtins.stringLength (builtins.foldl' (acc: i: "${acc}") "" (builtins.genList (x: x) 1000000)) + builtins.length (map (i: "x${toString i}y") (builtins.genList (x: x) 300000))
