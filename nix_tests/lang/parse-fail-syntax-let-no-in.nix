let a = 1;

