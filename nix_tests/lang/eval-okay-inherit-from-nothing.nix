# `inherit (e);` binds nothing: C++ Nix drops `e` unchecked.
let x = { inherit (undefinedVariable) ; }; in [ x (let inherit (alsoUndefined); in 1) ]
