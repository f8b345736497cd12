"""VPN servers on this host: account stores, weak passwords, logins (issue 6; A9-T2.1, A9-T2.2, A9-T2.3).

Modules: discovery (which VPN servers are here and which stores they use), stores and
stores_* (pure parsers of the account stores), passwords (the policy and the verdict of a
cleartext password), candidates (per-user guesses for hashed stores), hashaudit (trying them
through libxcrypt on all cores within a time budget), xcrypt (ctypes binding of libxcrypt).
The ``vpn`` section is assembled by agent/probes/vpn.py. No secret leaves these modules.
"""
