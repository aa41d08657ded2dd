#!/usr/bin/env python3
"""Checks deny.toml's licence, ban and source rules against `cargo metadata`.

cargo-deny reads the same file; this script exists because cargo-deny is not on the build
machines. It fails (exit 1) naming every package that breaks a rule.
"""
import json
import re
import subprocess
import sys
import tomllib

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def satisfiable(expr, allowed):
    """Whether an SPDX expression can be met with the allowed licences (OR: any; AND: all)."""
    # The old "A/B" form means "A OR B".
    expr = expr.replace("/", " OR ")
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        if peek() == "(":
            take()
            value = disjunction()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {expr!r}")
            return value
        licence = take()
        if peek() == "WITH":
            take()
            licence = f"{licence} WITH {take()}"
        return licence in allowed

    def conjunction():
        value = atom()
        while peek() == "AND":
            take()
            value = atom() and value
        return value

    def disjunction():
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"cannot read licence expression {expr!r}")
    return result


def main():
    with open("deny.toml", "rb") as f:
        rules = tomllib.load(f)
    allowed = set(rules["licenses"]["allow"])
    banned = {entry["name"]: entry.get("reason", "") for entry in rules["bans"]["deny"]}
    registries = {f"registry+{url}" for url in rules["sources"]["allow-registry"]}
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
        ).stdout
    )
    workspace = set(meta["workspace_members"])
    problems = []
    for package in meta["packages"]:
        name = f"{package['name']} {package['version']}"
        for dep in package.get("dependencies", []):
            if dep.get("req") == "*" and (dep.get("source") or "").startswith("registry+"):
                problems.append(f"{name}: depends on {dep['name']} with a wildcard version")
        if package["id"] in workspace:
            continue
        licence = package.get("license")
        if not licence:
            problems.append(f"{name}: no SPDX licence expression")
        else:
            try:
                if not satisfiable(licence, allowed):
                    problems.append(f"{name}: licence {licence!r} is not allowed")
            except ValueError as e:
                problems.append(f"{name}: {e}")
        if package["name"] in banned:
            problems.append(f"{name}: banned ({banned[package['name']]})")
        source = package.get("source")
        if source is None:
            problems.append(f"{name}: a path dependency outside the workspace")
        elif source not in registries:
            problems.append(f"{name}: from {source}, not an allowed registry")
    checked = len(meta["packages"]) - len(workspace)
    if problems:
        print(f"deny.toml: {len(problems)} problems in {checked} packages:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {checked} packages, licences allowed, none banned, all from crates.io")


if __name__ == "__main__":
    main()
