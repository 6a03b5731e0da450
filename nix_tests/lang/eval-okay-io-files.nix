# readFile, readDir, pathExists, toPath and getEnv on files of this suite.
with builtins;
{
  read = readFile ./data-io/hello.txt;
  readString = readFile "${toString ./data-io}/subdir/inner.txt";
  readEmpty = readFile ./data-io/empty.txt;
  readOutPath = readFile { outPath = toString ./data-io/subdir/inner.txt; };
  readToString = readFile { __toString = self: toString ./data-io/subdir/inner.txt; };
  dir = readDir ./data-io;
  subdir = readDir "${toString ./data-io}/subdir/";
  exists = pathExists ./data-io/hello.txt;
  existsDir = pathExists ./data-io/subdir;
  existsString = pathExists (toString ./data-io + "/subdir/../hello.txt");
  missing = pathExists ./data-io/missing.txt;
  fileAsDir = pathExists (toString ./data-io/hello.txt + "/");
  fileDot = pathExists (toString ./data-io/hello.txt + "/.");
  dirSlash = pathExists (toString ./data-io + "/");
  toPath = toPath "/a/../b//c/./d/";
  toPathRoot = [ (toPath "/..") (toPath "//") (toPath "/") ];
  toPathType = typeOf (toPath "/x");
  env = getEnv "TEST_VAR";
  envUnset = getEnv "OXNIX_SURELY_UNSET_VARIABLE";
  envEmptyName = getEnv "";
}
