# a function with formals whose default (a thunk of its own scope) is never forced
builtins.foldl' (acc: i: acc + (({ a, b ? a + 1 }: a) { a = i; })) 0 (builtins.genList (x: x) 1000000)
