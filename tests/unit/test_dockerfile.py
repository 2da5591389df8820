"""The Dockerfile parser, variable expansion and path patterns: pure functions, no containers."""

from __future__ import annotations

import pytest

from engine.builder.dockerfile import parse, parse_duration
from engine.builder.errors import BuildError, StepError
from engine.builder.mountopts import MountOption, parse_mount
from engine.builder.patterns import IgnoreRules, match
from engine.builder.words import expand, expand_words, split_raw

# -- parsing ---------------------------------------------------------------------------------


def test_stages_meta_args_and_line_numbers():
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=busybox\n"
        "\n"
        "FROM --platform=linux/amd64 ${BASE} AS Builder\n"
        "# a comment\n"
        "RUN echo a \\\n"
        "    # a comment inside a continuation is dropped\n"
        "\n"
        "    b\n"
        "from scratch\n"
        "COPY --from=builder /a /b\n")
    assert [i.keyword for i in df.meta_args] == ["ARG"]
    assert df.meta_args[0].pairs == (("BASE", "busybox"),)
    builder, final = df.stages
    assert (builder.name, builder.base, builder.from_instruction.flags) == ("builder", "${BASE}",
                                                                            {"platform": "linux/amd64"})
    run = builder.instructions[0]
    assert (run.keyword, run.line, run.rest) == ("RUN", 6, "echo a     b")
    assert (final.name, final.base, final.label) == (None, "scratch", "stage-1")
    assert final.instructions[0].flags == {"from": "builder"} and final.instructions[0].line == 11
    assert df.stage("BUILDER") is builder and df.stage("1") is final and df.stage("nope") is None


def test_escape_directive_changes_continuation_and_lexer():
    df = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo done\nWORKDIR c:\\windows\n")
    run, workdir = df.stages[0].instructions
    assert df.escape == "`" and run.rest == "dir c:\\   && echo done"
    assert expand(workdir.rest, {}, df.escape) == "c:\\windows"


def test_directive_after_an_instruction_is_a_comment():
    df = parse("FROM busybox\n# escape=`\nRUN echo \\\n  hi\n")
    assert df.escape == "\\" and df.stages[0].instructions[0].rest == "echo   hi"


@pytest.mark.parametrize("line,exec_form", [
    ('CMD ["sh", "-c", "echo hi"]', ("sh", "-c", "echo hi")),
    ("CMD echo hi", None),
    ('CMD [ "not json', None),
    ('ENTRYPOINT ["/entry.sh"]', ("/entry.sh",)),
    ('RUN ["echo", "exec form"]', ("echo", "exec form")),
    ('SHELL ["/bin/bash", "-o", "pipefail", "-c"]', ("/bin/bash", "-o", "pipefail", "-c")),
    ('COPY ["a b.txt", "/dst/"]', ("a b.txt", "/dst/")),
    ('VOLUME ["/data", "/logs"]', ("/data", "/logs")),
])
def test_json_and_shell_forms(line, exec_form):
    ins = parse(f"FROM busybox\n{line}\n").stages[0].instructions[0]
    assert ins.exec_form == exec_form


@pytest.mark.parametrize("line,pairs", [
    ("ENV A=1 B=\"two words\" C='x y'", (("A", "1"), ("B", '"two words"'), ("C", "'x y'"))),
    ("ENV LEGACY value with spaces", (("LEGACY", "value with spaces"),)),
    ("ENV ESC=a\\ b", (("ESC", "a\\ b"),)),
    ("LABEL org.example.x=1 \"quoted key\"=v", (("org.example.x", "1"), ('"quoted key"', "v"))),
    ("ARG A B=2 C=", (("A", None), ("B", "2"), ("C", ""))),
])
def test_pairs(line, pairs):
    assert parse(f"FROM busybox\n{line}\n").stages[0].instructions[0].pairs == pairs


def test_healthcheck_forms():
    df = parse("FROM busybox\nHEALTHCHECK --interval=5s --timeout=1m30s --start-period=1s --start-interval=500ms "
               "--retries=3 CMD curl -f http://localhost/\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"true\"]\n")
    hc, none, exec_form = df.stages[0].instructions
    assert hc.exec_form == ("CMD-SHELL", "curl -f http://localhost/")
    assert hc.flags == {"interval": "5s", "timeout": "1m30s", "start-period": "1s", "start-interval": "500ms",
                        "retries": "3"}
    assert none.exec_form == ("NONE",) and exec_form.exec_form == ("CMD", "true")


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("0", 0),
                                          ("1.5s", 1.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,message", [
    ("", "Dockerfile: the Dockerfile is empty"),
    ("# only a comment\n", "Dockerfile: the Dockerfile is empty"),
    ("ARG A=1\n", "has no FROM instruction"),
    ("RUN echo\nFROM busybox\n", "Dockerfile:1: RUN: no build stage in current context"),
    ("FROM busybox\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"),
    ("FROM busybox\nONBUILD ONBUILD RUN echo\n", "Dockerfile:2: ONBUILD: ONBUILD ONBUILD is not allowed"),
    ("FROM busybox\nONBUILD FROM x\n", "Dockerfile:2: ONBUILD: ONBUILD FROM is not allowed"),
    ("FROM busybox\nONBUILD\n", "Dockerfile:2: ONBUILD: ONBUILD requires an instruction to record"),
    ("FROM busybox\n\n\nCOPY onlyone\n", "Dockerfile:4: COPY: COPY requires at least two arguments"),
    ("FROM busybox\nCOPY --chown\n", "COPY requires at least two arguments"),
    ("FROM busybox\nCOPY --nope=1 a b\n", "Dockerfile:2: COPY: unknown flag: --nope"),
    ("FROM busybox\nCOPY --chmod=rwx a b\n", 'invalid --chmod "rwx"'),
    ("FROM busybox\nRUN --mount=type=ssh echo\n", "Dockerfile:2: RUN: RUN --mount=type=ssh is not supported: "
                                                  "pycompose builds forward no SSH agent"),
    ("FROM busybox\nRUN --mount=type=cache echo\n", "Dockerfile:2: RUN: --mount type=cache needs a target"),
    ("FROM busybox\nRUN --mount=type=cache,target=/x,sharing=no echo\n",
     'sharing must be shared, private or locked, not "no"'),
    ("FROM busybox\nRUN --mount=type=bind,target=/x,bogus=1 echo\n", '--mount type=bind: unknown option "bogus"'),
    ("FROM busybox\nRUN --mount=type=volume,target=/x echo\n", 'unknown mount type "volume"'),
    ("FROM busybox\nRUN --mount=type=cache,target=/x,mode=999 echo\n", '--mount mode: "999" is not an octal mode'),
    ("FROM busybox\nRUN --network=bridge echo\n", "RUN --network=bridge: the network must be default, none or host"),
    ("FROM busybox\nRUN --security=insecure echo\n", "RUN --security=insecure is not allowed"),
    ("FROM busybox\nRUN <<EOF\necho\n", 'Dockerfile:2: RUN: the heredoc "EOF" is not terminated'),
    ("FROM busybox\nADD --keep-git-dir=true git@x:y /\n", "ADD --keep-git-dir is for git sources"),
    ("FROM busybox\nCOPY --parents=maybe a b/\n", '--parents takes true or false, not "maybe"'),
    ("FROM busybox\nSHELL /bin/bash -c\n", "SHELL requires the arguments to be in JSON form"),
    ("FROM busybox\nHEALTHCHECK --interval=5 CMD true\n", 'invalid duration "5"'),
    ("FROM busybox\nHEALTHCHECK --retries=x CMD true\n", "--retries must be a number"),
    ("FROM busybox\nHEALTHCHECK NONE --x\n", "HEALTHCHECK NONE takes no other arguments"),
    ("FROM busybox\nHEALTHCHECK WGET x\n", 'unknown type "WGET" in HEALTHCHECK'),
    ("FROM busybox\nENV A=1 B\n", "can't find = in \"B\""),
    ("FROM busybox\nENV A\n", "ENV names a value with no value"),
    ("FROM busybox\nWORKDIR\n", "WORKDIR requires at least one argument"),
    ("FROM a b\n", "Dockerfile:1: FROM: FROM requires either one or three arguments"),
    ("FROM busybox AS 1st\n", 'invalid stage name "1st"'),
    ("FROM busybox AS x\nFROM busybox AS X\n", 'Dockerfile:2: FROM: duplicate stage name "x"'),
    ("# escape=x\nFROM busybox\n", 'invalid escape token "x"'),
])
def test_errors_name_file_line_and_instruction(text, message):
    with pytest.raises(BuildError) as info:
        parse(text)
    assert message in str(info.value)


def test_heredocs_run_copy_several_and_tab_stripping():
    df = parse("# syntax=docker/dockerfile:1.7\n# check=skip=all\nFROM busybox\n"
               "RUN <<EOF\n#!/bin/sh\n# not a comment of the Dockerfile\necho $HOME\nEOF\n"
               "COPY <<-one <<'two' /dir/\n\tfirst $A\n\tone\nsecond $B\ntwo\n"
               "RUN cat <<A > /a && cat <<B > /b\nx\nA\ny\nB\n"
               "RUN echo '<<NOT' here\n")
    run, copy, two, quoted = df.stages[0].instructions
    assert df.syntax == "docker/dockerfile:1.7"
    assert (run.line, run.rest, run.title) == (4, "<<EOF", "RUN <<EOF")
    assert [(d.name, d.body, d.expand) for d in run.heredocs] == [
        ("EOF", "#!/bin/sh\n# not a comment of the Dockerfile\necho $HOME\n", True)]
    assert run.text == "RUN <<EOF\n#!/bin/sh\n# not a comment of the Dockerfile\necho $HOME\nEOF"
    assert [(d.name, d.body, d.expand, d.strip_tabs) for d in copy.heredocs] == [
        ("one", "first $A\n", True, True), ("two", "second $B\n", False, False)]
    assert (copy.line, two.line) == (9, 14)
    assert [d.name for d in two.heredocs] == ["A", "B"] and quoted.heredocs == ()


def test_run_mounts_repeat_and_onbuild_records_its_trigger():
    df = parse("FROM busybox\nRUN --mount=type=cache,target=/root/.cache,id=pip --mount=type=secret,id=tok "
               "--network=none echo\nONBUILD COPY . /app\nCOPY --exclude=*.md --exclude=tmp/ --parents a/./b c/\n")
    run, onbuild, copy = df.stages[0].instructions
    assert run.values("mount") == ["type=cache,target=/root/.cache,id=pip", "type=secret,id=tok"]
    assert run.flags == {"mount": "type=secret,id=tok", "network": "none"}
    assert onbuild.trigger is not None and onbuild.trigger.keyword == "COPY" and onbuild.trigger.rest == ". /app"
    assert copy.values("exclude") == ["*.md", "tmp/"] and copy.flags["parents"] == "true"


@pytest.mark.parametrize("text,expected", [
    ("type=cache,target=/root/.cache", MountOption("cache", "/root/.cache", id="/root/.cache", read_only=False)),
    ("target=rel,id=x,sharing=locked,uid=1000,gid=50,mode=0700", MountOption(
        "cache", "/work/rel", id="x", read_only=False, sharing="locked", uid=1000, gid=50, mode=0o700)),
    ("type=bind,source=src,target=/src,rw", MountOption("bind", "/src", source="src", read_only=False)),
    ("type=bind,from=builder,src=/out,dst=/in", MountOption("bind", "/in", source="/out", from_="builder")),
    ("type=secret,id=token", MountOption("secret", "/run/secrets/token", id="token", read_only=True)),
    ("type=secret,id=npmrc,target=/root/.npmrc,required,mode=0440", MountOption(
        "secret", "/root/.npmrc", id="npmrc", required=True, mode=0o440)),
    ("type=secret,id=key,env=API_KEY", MountOption("secret", "", id="key", env="API_KEY")),
    ("type=tmpfs,target=/tmp,size=64m", MountOption("tmpfs", "/tmp", read_only=False, size=64 << 20)),
])
def test_mount_options(text, expected):
    assert parse_mount(text, "/work") == expected


def test_error_names_the_dockerfile_given():
    with pytest.raises(BuildError, match=r"^docker/Dockerfile\.dev:2: COPY: "):
        parse("FROM busybox\nCOPY x\n", "docker/Dockerfile.dev")


# -- variables ---------------------------------------------------------------------------------

ENV = {"A": "1", "EMPTY": "", "SP": "x y"}


@pytest.mark.parametrize("text,expected", [
    ("$A", "1"), ("${A}", "1"), ("pre${A}post", "pre1post"), ("$UNSET", ""), ("${UNSET}", ""),
    ("${UNSET:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""), ("${A:-def}", "1"),
    ("${A:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${UNSET:+alt}", ""),
    ("${UNSET:-${A}x}", "1x"), ("'$A'", "$A"), ('"$A"', "1"), ("\\$A", "$A"), ('"\\$A"', "$A"),
    ('"a\\tb"', "a\\tb"), ("a\\ b", "a b"), ("$", "$"), ("$1", ""), ("a$-b", "a$-b"),
    ('"it\'s"', "it's"), ("'say \"hi\"'", 'say "hi"'),
])
def test_expand(text, expected):
    assert expand(text, ENV) == expected


@pytest.mark.parametrize("text,words", [
    ("a b  c", ["a", "b", "c"]), ('"a b" c', ["a b", "c"]), ("$SP z", ["x", "y", "z"]),
    ('"$SP" z', ["x y", "z"]), ("a\\ b c", ["a b", "c"]), ('""', []), ("${UNSET:-d e}", ["d", "e"]),
])
def test_expand_words(text, words):
    assert expand_words(text, ENV) == words


@pytest.mark.parametrize("text,message", [
    ("${A", "missing '}'"), ("${A:-x", "unexpected end of statement while looking for matching }"),
    ("${}", "bad substitution"), ("${A:x}", "unsupported modifier (x)"),
    ("'open", "matching single-quote"), ('"open', "matching double-quote"),
    ("${UNSET:?must be set}", "UNSET: must be set"), ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
])
def test_expand_errors(text, message):
    with pytest.raises(StepError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand(text, ENV)


def test_split_raw_keeps_quotes_for_later():
    assert split_raw('A="x y" B=\'z\' C=a\\ b') == ['A="x y"', "B='z'", "C=a\\ b"]


# -- patterns ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,name,hit", [
    ("*.txt", "a.txt", True), ("*.txt", "dir/a.txt", False), ("?.txt", "a.txt", True),
    ("[ab].txt", "b.txt", True), ("[^ab].txt", "c.txt", True), ("[a-c]x", "bx", True), ("[a-c]x", "dx", False),
    ("\\*", "*", True), ("\\*", "a", False), ("a.b", "aXb", False), ("(x)", "(x)", True),
])
def test_go_match(pattern, name, hit):
    assert match(pattern, name) is hit


@pytest.mark.parametrize("path,excluded", [
    ("secret.txt", True), ("node_modules", True), ("node_modules/x/y.js", True),
    ("logs/a.log", True), ("logs/keep.log", False), ("src/deep/x.tmp", True), ("x.tmp", True),
    ("src/main.py", False), ("docs/README.md", True), ("README.md", False), ("build", True),
    ("build/out/keep.txt", False), ("build/out/other", True),
])
def test_dockerignore_rules(path, excluded):
    rules = IgnoreRules.parse(
        "# comment\n"
        "secret.txt\n"
        "/node_modules\n"
        "logs/*.log\n"
        "!logs/keep.log\n"
        "**/*.tmp\n"
        "docs\n"
        "!README.md\n"
        "build\n"
        "!build/out/keep.txt\n")
    assert rules.excluded(path) is excluded
