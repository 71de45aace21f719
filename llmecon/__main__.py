from llmecon.cli import console_main

console_main()
