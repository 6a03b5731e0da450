let x = { a = 1; }; l = [ 1 ]; in [ x x l l [ ] [ ] { } { } ]
