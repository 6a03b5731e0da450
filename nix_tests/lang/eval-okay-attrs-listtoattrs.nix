# listToAttrs: of repeated names the first wins, and a repeated name's
# `value` is never looked for; the same with the list evaluated first (the
# fast path), with thunks as items, and past 32 names.
let
  evaluated = l: builtins.seq (builtins.deepSeq l l) l;
  pairs = [
    { name = "b"; value = 1; }
    { name = "a"; value = 2; }
    { name = "b"; value = 3; }
    { name = "a"; }
    { name = "c"; value = throw "never forced"; }
  ];
  many = builtins.genList (i: { name = "n${toString (i / 3)}"; value = i; }) 120;
  dropValue = l: map (p: if p.name == "c" then p else p) l;
in
[
  (builtins.attrNames (builtins.listToAttrs pairs))
  (removeAttrs (builtins.listToAttrs pairs) [ "c" ])
  (removeAttrs (builtins.listToAttrs (dropValue pairs)) [ "c" ])
  (builtins.listToAttrs (evaluated (builtins.genList (i: { name = toString (i / 2); value = i; }) 7)))
  (builtins.length (builtins.attrNames (builtins.listToAttrs many)))
  (builtins.listToAttrs many).n7
  (builtins.listToAttrs (evaluated many)).n39
  (builtins.listToAttrs (evaluated [ { name = "a"; value = 1; } { name = "a"; } ]))
  (builtins.listToAttrs [ ])
]
