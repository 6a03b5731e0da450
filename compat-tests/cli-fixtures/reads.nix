# Reads a file next to it, and the environment.
{ text = builtins.readFile ./file.txt; home = builtins.getEnv "NO_SUCH_VARIABLE"; }
