# Nested `with` scopes found past lambdas, lets and other withs, an
# inner `with` shadowing an outer one, lexical variables winning over
# both, and a `with` of a non-set that no lookup needs.
let a = { x = 1; y = 2; }; b = { y = 3; z = 4; };
    f = q: with a; [ x y z q (with b; [ x y z q (let z = 5; in with {}; [ z x y ]) ]) ];
    z = 9;
in [ (f 0) (with a; with b; let w = 1; in [ x y z w ]) (with 5; 1) (builtins.tryEval (with { x = 1; }; with { y = 2; }; x + y)) ]
