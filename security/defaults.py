"""The longer defaults of conf.py's settings, kept apart so conf stays one property a setting."""

DEFAULT_MASKED_PARAMETERS = (
    "token", "password", "passwd", "pwd", "pass", "passphrase", "secret", "key", "apikey",
    "signature", "sig", "code", "otp", "auth", "authorization", "credential", "credentials",
    "session", "sessionid", "jsessionid", "phpsessid", "sid", "jwt", "ticket", "nonce",
)  # fmt: skip
DEFAULT_MASKED_URL_KWARGS = ("token", "key", "signature", "secret", "code", "otp")
DEFAULT_MASKED_PATH_PATTERNS = (
    # Django's password reset tokens: <timestamp in base 36>-<20 to 64 hex digits>.
    r"(?<=/)[0-9a-z]{1,13}-[0-9a-f]{20,64}(?=/|$)",
    # Django signed values (signing.dumps, TimestampSigner): value[:timestamp]:signature.
    r"(?<=/)[A-Za-z0-9_=-]+(?::[A-Za-z0-9_-]+)?:[A-Za-z0-9_-]{27,}(?=/|$)",
)
# URL names (namespace:name) whose POSTs are limited: every way in to an account.
DEFAULT_RATELIMIT_VIEWS = (
    "login",
    "admin:login",
    "password_reset",
    "admin_password_reset",
    "password_reset_confirm",
)

# Short socket timeouts: a Redis that hangs must cost a request milliseconds, not seconds.
DEFAULT_REDIS_CLIENT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
# The POST fields a login form names the account in.
DEFAULT_USERNAME_FIELDS = ("username", "email", "login")
