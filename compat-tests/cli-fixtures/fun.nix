# A function with default arguments: auto-called at the root.
{ name ? "x", n ? 1 }:
{
  inherit name n;
  sum = n + 1;
  msg = "hello ${name}";
}
