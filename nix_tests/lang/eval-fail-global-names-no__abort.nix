__abort
