#!/usr/bin/env python3
"""The man page and --help name the same flags: every flag of `chexport --help` and of each
command's --help is in docs/man/chexport.1, and every flag the man page names is in some --help.

    man_flags_test.py CHEXPORT_BINARY MAN_PAGE
"""
import re
import subprocess
import sys

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def main():
    binary, man_page = sys.argv[1], sys.argv[2]
    in_help = set()
    for command in ([], ["export"], ["plan"], ["verify"], ["import"]):
        text = subprocess.run([binary, *command, "--help"], capture_output=True, text=True,
                              check=True).stdout
        in_help |= set(FLAG.findall(text))
    roff = open(man_page, encoding="utf-8").read().replace("\\-", "-")
    in_man = set(FLAG.findall(roff))
    checks = [(f"{flag} is in --help but not in {man_page}", flag in in_man) for flag in in_help]
    checks += [(f"{flag} is in {man_page} but in no --help", flag in in_help) for flag in in_man]
    failed = [what for what, ok in checks if not ok]
    for what in sorted(failed):
        print(what)
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
