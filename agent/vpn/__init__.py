"""VPN servers on this host: account stores, weak passwords, logins (issue 6; A9-T2.1, A9-T2.2, A9-T2.3).

Accounts (section ``vpn``, docs/probes/vpn.md): discovery (servers and the stores they use),
stores / stores_strongswan / stores_wireguard (pure parsers), passwords (policy and verdict),
pinyin, candidates (per-user guesses), hashaudit (libxcrypt on all cores within a budget),
xcrypt (ctypes binding), store_redact (capture bundles), audit (assembles the section).
Logs (docs/probes/vpn-logs.md): logs, redact, lastlogin, analysis. No secret leaves these modules.
"""
