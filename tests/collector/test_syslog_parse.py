"""Parsing VPN appliances' syslog and line templates (issue 6: A9-T2.3, A9-T1, A9-M3.4).

Lines follow the formats in the standards (RFC 5424 section 6.5 examples, RFC 3164 section
5.4) and the vendors' public documentation as recorded in ../shared/design/vpn-notes.md
section 6 (Huawei ``MODULE/severity/MNEMONIC: text (Key=[value])``, H3C Comware
``%Nov 27 ...``); appliance message texts are samples as an admin would paste them. Pure: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.services.errors import Invalid
from collector.services.syslog_parse import decode, parse_stamp, parse_syslog, redact
from collector.services.syslog_templates import compile_template, match, suggest, try_template

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


# -- RFC 5424 ---------------------------------------------------------------------------------
def test_rfc5424_example_with_structured_data_and_bom() -> None:
    line = (
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
        'eventSource="Application" eventID="1011"] \ufeffAn application event log entry...'
    ).encode()
    parsed = parse_syslog(line, NOW)
    assert (parsed.facility, parsed.severity, parsed.rfc) == (20, 5, "5424")
    assert parsed.ts == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (parsed.hostname, parsed.app) == ("mymachine.example.com", "evntslog")
    assert parsed.msg == "An application event log entry..."


def test_rfc5424_escaped_bracket_in_sd_offset_stamp_and_nil_fields() -> None:
    line = '<134>1 2026-11-27T10:01:02.5+08:00 sslvpn-she - - - [x@1 m="a \\] b" n="\\"q\\""] User alice logged in'
    parsed = parse_syslog(line, NOW)
    assert parsed.ts == datetime(2026, 11, 27, 2, 1, 2, 500000, tzinfo=UTC)
    assert (parsed.hostname, parsed.app, parsed.msg) == ("sslvpn-she", "", "User alice logged in")
    nothing = parse_syslog(b"<14>1 - - - - - -", NOW)
    assert (nothing.ts, nothing.hostname, nothing.msg) == (None, "", "")


# -- RFC 3164 and what appliances really send -----------------------------------------------------
def test_rfc3164_with_host_and_tag_in_local_time() -> None:
    parsed = parse_syslog(
        b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8", NOW
    )
    assert (parsed.facility, parsed.severity, parsed.hostname, parsed.app) == (4, 2, "mymachine", "su")
    assert parsed.ts == datetime(2026, 10, 11, 14, 14, 15, tzinfo=UTC)  # Asia/Shanghai, this year
    assert parsed.msg == "'su root' failed for lonvick on /dev/pts/8"


def test_the_year_is_the_latest_not_after_now() -> None:
    assert parse_syslog(b"<14>Dec 31 23:59:59 h t: x", NOW).ts == datetime(
        2025, 12, 31, 15, 59, 59, tzinfo=UTC
    )
    assert parse_syslog(b"<14>Nov 27 12:00:00 h t: x", NOW).ts == datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    leap = parse_syslog(b"<14>Feb 29 08:00:00 h t: x", NOW).ts
    assert leap is not None and leap.year == 2024


def test_missing_hostname_and_odd_appliance_stamps() -> None:
    no_host = parse_syslog(b"<86>Nov 27 10:01:02 sslvpn[311]: User alice logged in", NOW)
    assert (no_host.hostname, no_host.app, no_host.msg) == ("", "sslvpn", "User alice logged in")
    huawei = parse_syslog(
        b"<189>Nov 27 2026 10:01:02 USG6000E %%01SSH/5/SSH_USER_LOGOUT(l):The SSH user logged out. "
        b"(ServiceType=stelnet, LogoutReason=exit, UserName=admin, UserAddress=198.18.2.2)",
        NOW,
    )
    assert huawei.hostname == "USG6000E" and huawei.ts == datetime(2026, 11, 27, 2, 1, 2, tzinfo=UTC)
    assert "UserName=admin" in huawei.msg
    for stamp in ("2026-11-27 10:01:02", "2026/11/27 10:01:02", "2026-11-27T10:01:02+08:00"):
        parsed = parse_syslog(f"<14>{stamp} vpn-01 login: user bob".encode(), NOW)
        assert parsed.ts == datetime(2026, 11, 27, 2, 1, 2, tzinfo=UTC), stamp
        assert (parsed.hostname, parsed.app, parsed.msg) == ("vpn-01", "login", "user bob")


def test_gbk_from_chinese_appliances_and_utf8() -> None:
    line = "<14>Nov 27 10:01:02 sangfor-vpn sslvpn: 用户 张伟 从 198.18.2.9 登录成功"
    for encoding in ("gbk", "utf-8"):
        parsed = parse_syslog(line.encode(encoding), NOW)
        assert parsed.msg == "用户 张伟 从 198.18.2.9 登录成功", encoding
    assert decode(b"\xff\xfe\x00abc") == decode(b"\xff\xfe\x00abc")  # neither: replacement, no error


def test_no_header_at_all_is_a_message() -> None:
    parsed = parse_syslog(b"User alice logged in", NOW)
    assert (parsed.facility, parsed.ts, parsed.msg, parsed.rfc) == (None, None, "User alice logged in", "")


def test_garbage_raises_only_a_clear_value_error() -> None:
    for bad in (b"", b"   \r\n", b"<999>Nov 27 10:01:02 h t: x"):
        with pytest.raises(ValueError, match=r"empty|out of range"):
            parse_syslog(bad, NOW)


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_value_error(data: bytes) -> None:
    try:
        parsed = parse_syslog(data, NOW)
    except ValueError:
        return
    assert isinstance(parsed.msg, str) and "\x00" not in parsed.msg
    assert parsed.ts is None or (
        parsed.ts.tzinfo is not None and parsed.ts <= NOW + timedelta(days=400 * 3000)
    )


@given(
    st.sampled_from(["<13>", "<191>", "<0>", ""]),
    st.sampled_from(
        ["Nov 27 10:01:02 ", "1 2026-11-27T10:01:02Z ", "2026-11-27 10:01:02 ", "Feb 29 01:02:03 ", ""]
    ),
    st.text(max_size=200),
)
def test_headers_with_any_text_parse_or_raise_value_error(pri: str, stamp: str, rest: str) -> None:
    try:
        parsed = parse_syslog((pri + stamp + rest).encode("utf-8", "surrogatepass"), NOW)
    except ValueError:
        return
    assert parsed.ts is None or parsed.ts.utcoffset() == timedelta(0)


@given(st.text(max_size=300))
def test_stamps_never_raise(text: str) -> None:
    found = parse_stamp(text, NOW)
    assert found is None or 0 < found[1] <= len(text)


# -- redaction ----------------------------------------------------------------------------------
def test_redaction_follows_the_agents_rules() -> None:
    assert redact('Incorrect password: username="bob", password="Secr3t! x".') == (
        'Incorrect password: username="bob", password="<redacted>".'
    )
    assert redact("login user=bob pwd=hunter2,ip=1.2.3.4") == "login user=bob pwd=<redacted>,ip=1.2.3.4"
    assert redact("pppd: password=<hidden>") == "pppd: password=<hidden>"


@given(st.text(alphabet=st.characters(blacklist_characters=" \t,;\"'"), min_size=1, max_size=40))
def test_a_bare_password_value_never_survives(secret: str) -> None:
    assert secret not in redact(f"x password={secret}").removeprefix("x password=").replace("<redacted>", "")


# -- templates ---------------------------------------------------------------------------------
SANGFOR_LIKE = "<14>Nov 27 10:01:02 sangfor-vpn sslvpn: 用户 张伟 从 198.18.2.9 登录成功"
H3C_LIKE = (
    "<190>Nov 27 10:01:02 2026 H3C %%10SSLVPN/6/SSLVPN_USER_LOGIN: -Context=1; "
    "User zhangwei of context ctx1 logged in from 198.18.2.10."
)
CHECKPSW = '2026-11-27 10:01:02: Incorrect password: username="li si", password="oops123".'


def test_suggest_marks_the_address_the_user_and_an_inner_time() -> None:
    assert suggest(SANGFOR_LIKE, "张伟") == "用户 {user} 从 {src_ip} 登录成功"
    assert suggest(H3C_LIKE, "zhangwei").endswith("User {user} of context ctx1 logged in from {src_ip}.")
    made = suggest(CHECKPSW, "li si")
    assert made == '{time}: Incorrect password: username="{user}", password="<redacted>".'
    assert try_template(made, CHECKPSW, "logout") == {"time": "2026-11-27 10:01:02", "user": "li si"}


def test_a_template_extracts_fields_and_ipv6() -> None:
    compiled = compile_template("User [{user}] logged in (UserAddress=[{src_ip}], Port={src_port}){*}")
    fields = match(
        compiled, "%%01SSLVPN/5/LOGIN(l):User [bob] logged in (UserAddress=[2001:db8::5], Port=443)."
    )
    assert fields == {"user": "bob", "src_ip": "2001:db8::5", "src_port": "443"}
    assert match(compiled, "User [bob] logged in (UserAddress=[999.1.1.1], Port=443)") is None


def test_a_template_must_match_its_sample_and_says_where_it_does_not() -> None:
    with pytest.raises(Invalid, match=r"part 3 of the template, the text ' logged out from '"):
        try_template("User {user} logged out from {src_ip}", "User bob logged in from 198.18.2.2")
    with pytest.raises(Invalid, match=r"more text after the last part"):
        try_template("User {user} logged in from {src_ip}", "User bob logged in from 198.18.2.2 port 4")
    with pytest.raises(Invalid, match=r"the field \{src_ip\}"):
        try_template("User {user} logged in from {src_ip}", "User bob logged in from somewhere")
    with pytest.raises(Invalid, match=r"\{user\}"):
        try_template("User bob logged in from {src_ip}", "User bob logged in from 198.18.2.2")
    with pytest.raises(Invalid, match=r"\{src_ip\}"):
        try_template("User {user} logged in", "User bob logged in", "success")
    assert try_template("User {user} logged out", "User bob logged out", "logout") == {"user": "bob"}
    with pytest.raises(Invalid, match="more than once"):
        compile_template("{user} {user}")
    with pytest.raises(Invalid, match="text between"):
        compile_template("{user}{*}")


def test_the_success_template_does_not_match_a_longer_failure_line() -> None:
    compiled = compile_template("User {user} logged in from {src_ip}")
    assert match(compiled, "User bob logged in from 198.18.2.2 failed: bad password") is None
    assert match(compiled, "sslvpn[1]: User bob logged in from 198.18.2.2") == {
        "user": "bob",
        "src_ip": "198.18.2.2",
    }


@given(st.text(max_size=120), st.text(max_size=40))
def test_templates_from_any_sample_compile_or_are_refused_clearly(sample: str, user: str) -> None:
    try:
        template = suggest(sample, user)
    except Invalid:
        return
    try:
        compiled = compile_template(template)
    except Invalid:
        return
    match(compiled, sample)


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=30
    )
)
def test_a_marked_user_name_is_found_again(name: str) -> None:
    line = f"<14>Nov 27 10:01:02 vpn sslvpn: login ok user {name} from 198.18.2.2"
    template = suggest(line, name)
    if "{user}" in template:
        assert try_template(template, line)["user"] == name


# -- issue 6 review: bounded matching (S1), redaction of 密码/口令/password: forms (S5) ----------------
ADVERSARIAL = {
    "{*}: login failed {*} user={user} {*} ip={src_ip}": ": login failed " * 550,  # 8 KiB, 158 s before
    "{*} user {user} from {src_ip} {*} end {*}": " user a from 198.18.2.2 " * 350,
    "{*}:{*}x {user} {*}": ":" * 8000,
    "a {*} b {*} c {*} user {user} from {src_ip}": "a b c user x from " * 110,
}


def test_wildcards_compile_to_possessive_groups_bounded_by_what_follows() -> None:
    for template in ADVERSARIAL:
        pattern = compile_template(template).pattern
        assert ".*?" not in pattern and ".*" not in pattern.replace(".)*+", ""), template
        assert not pattern.startswith("(?:(?!"), template  # a leading {*} is dropped
    compiled = compile_template("{*}: login failed {*} user={user} {*} ip={src_ip}")
    assert compiled.pattern.startswith(r":\slogin\sfailed\s(?:(?!\suser=).)*+\suser=(?P<user>\S{1,128}+)")
    assert compiled.anchored and not compile_template("User {user} from {src_ip} {*}").anchored


def test_adversarial_lines_are_matched_in_bounded_time() -> None:
    """The reviewer's 8 KiB lines, in a child process that is killed after a generous 10 s
    (the unbounded patterns took 20-158 s); the fixed ones take milliseconds."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from collector.services.syslog_templates import compile_template, match\n"
        "cases = json.loads(sys.stdin.read())\n"
        "print(json.dumps([match(compile_template(t), line) for t, line in cases.items()]))\n"
    )
    import json

    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(ADVERSARIAL),
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert json.loads(done.stdout) == [None, None, None, None]


def test_what_a_wildcard_matches_and_the_2048_character_cap() -> None:
    inner = compile_template("login {*} {user} from {src_ip}")
    assert match(inner, "x login via web  portal\tbob from 198.18.2.2") == {
        "user": "bob",
        "src_ip": "198.18.2.2",
    }
    assert match(compile_template("{*} denied for {user}"), "sslvpn: access denied for bob") == {
        "user": "bob"
    }
    # {*} stops at the first place the rest matches: "end" twice means the first one
    assert match(compile_template("begin {*} end {user}"), "begin a end b end carol") is None
    long_tail = "User bob logged in from 198.18.2.2 " + "x " * 1100
    assert match(compile_template("User {user} logged in from {src_ip} {*}"), long_tail) == {
        "user": "bob",
        "src_ip": "198.18.2.2",
    }
    assert match(compile_template("User {user} logged in from {src_ip} x"), long_tail) is None
    anchored = compile_template("User {user} logged in from {src_ip} {*} end")
    assert match(anchored, "User bob logged in from 198.18.2.2 " + "y " * 500 + "end") is not None
    assert match(anchored, "User bob logged in from 198.18.2.2 " + "y " * 1100 + "end") is None  # > 2048


def test_colon_and_blank_password_forms_are_redacted() -> None:
    assert redact("用户 张伟 密码：Qx7!a，登录失败") == "用户 张伟 密码：<redacted>，登录失败"
    assert redact("口令 s3cr3t 错误") == "口令 <redacted> 错误"
    assert redact("user bob password: hunter2; ip=1.2.3.4") == "user bob password: <redacted>; ip=1.2.3.4"
    assert redact('PWD = "two words" end') == 'PWD = "<redacted>" end'
    assert redact("Password hunter2 from 198.18.2.2") == "Password <redacted> from 198.18.2.2"
    for kept in (
        "password incorrect for bob",
        "密码错误",
        "密码 错误",
        "login failed, password:",
        "password=<hidden>",
    ):
        assert redact(kept) == kept
    assert "oops" not in suggest('Incorrect password: username="li", password: oops, 密码=oops', "li")
