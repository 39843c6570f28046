// StewardHTTP
