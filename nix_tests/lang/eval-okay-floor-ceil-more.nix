# floor and ceil of floats and integers, including values out of the
# integer range (C++ Nix 2.8 gives the smallest integer).
with builtins;
let
  xs = [ 23.5 (-23.5) 0.0 (-0.0) 0.5 (-0.5) 1.0 (-1.0) 2.999999 (-2.000001) 23 (-7) 0 9007199254740993 ];
  big = 9223372036854775807.0 * 2;
in
{
  floor = map floor xs;
  ceil = map ceil xs;
  types = map (x: typeOf (floor x)) [ 1.5 2 ];
  huge = [ (floor big) (ceil big) (floor (-big)) (ceil (-big)) ];
  intMax = [ (floor 9223372036854775807) (ceil (-9223372036854775807)) ];
}
