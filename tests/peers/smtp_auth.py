"""An SMTP server that requires AUTH (PLAIN/LOGIN) before it accepts mail, storing what it
accepts in a Maildir: Debian's aiosmtpd, whose command line offers no authentication.

usage: python3 smtp_auth.py PORT MAILDIR USERNAME PASSWORD
"""
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

port, maildir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == user.encode() and auth_data.password == password.encode()
    return AuthResult(success=ok, handled=False)


controller = Controller(
    Mailbox(maildir),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=False,
)
controller.start()
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
