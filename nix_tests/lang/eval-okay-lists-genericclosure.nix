# genericClosure: breadth-first order of first appearance; keys compared
# as C++ Nix's std::set does (1 and 1.0 are the same key; lists compare
# lexicographically); long chains need no recursion.
with builtins;
{
  numbers = map (x: x.key) (genericClosure {
    startSet = [ { key = 80; } ];
    operator = { key, ... }: if key < 0 then [ ] else [ { key = key - 9; } { key = key - 13; } ];
  });
  floats = genericClosure { startSet = [ { key = 2; } { key = 1; } { key = 2.0; } { key = 1.5; } ]; operator = x: [ ]; };
  strings = map (x: x.key) (genericClosure {
    startSet = [ { key = "a"; } ];
    operator = { key }: if stringLength key > 3 then [ ] else [ { key = key + "a"; } { key = key + "b"; } { key = "a"; } ];
  });
  lists = genericClosure { startSet = [ { key = [ 1 2 ]; } { key = [ 1 ]; } { key = [ 1 2 ]; } { key = [ 0 5 ]; } { key = [ ]; } ]; operator = x: [ ]; };
  equalSets = genericClosure { startSet = [ { key = [ { } ]; } { key = [ { } ]; } ]; operator = x: [ ]; };
  firstWins = genericClosure { startSet = [ { key = 1; v = "first"; } { key = 1; v = "second"; } ]; operator = x: [ ]; };
  chain = length (genericClosure { startSet = [ { key = 0; } ]; operator = { key }: if key < 20000 then [ { key = key + 1; } ] else [ ]; });
  empty = genericClosure { startSet = [ ]; operator = x: throw "never called"; };
}
