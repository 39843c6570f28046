// Nothing here: the header declares libFuzzer's driver, which -sanitize=fuzzer links in.
