{ fromStdin = 1 + 1; }
