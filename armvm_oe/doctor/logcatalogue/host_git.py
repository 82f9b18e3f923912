"""What git, wget and curl print when a fetch fails (bitbake's fetcher and
kas relay their output): unreachable servers, git:// turned off, HTTP
errors, authentication. The advice follows the URL's transport."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach



def _http(g: dict) -> dict:
    code = g.get("code") or g.get("code2") or g.get("code3") or "4xx"
    msg = (g.get("msg") or g.get("msg3") or "").strip() or "no reason given"
    if "SSL is required" in msg or "HTTPS" in msg.upper().split():
        return {"code": code, "msg": msg, "meaning": "the server serves this file only over "
                "https and the SRC_URI/mirror says http://",
                "fix": "Change http:// to https:// in the SRC_URI (or the MIRRORS/PREMIRRORS "
                       "entry that rewrote it)"}
    if code in ("404", "410"):
        return {"code": code, "msg": msg, "meaning": "the file is gone from that URL (upstream "
                "moved or deleted the release)", "fix": "Point SRC_URI at the file's new "
                "location or an archive mirror (or take the file from a PREMIRROR/DL_DIR)"}
    if code in ("401", "403", "407"):
        return {"code": code, "msg": msg, "meaning": "access was refused (authentication, a "
                "proxy that blocks the host, or a server that blocks this client)",
                "fix": "Open the URL from the build host (with its proxy settings); fix the "
                       "proxy credentials or use a mirror"}
    return {"code": code, "msg": msg, "meaning": "the server or a proxy failed",
            "fix": "Retry later, or use a mirror (PREMIRRORS)"}


PATTERNS = (
    P("log.fetch-http", "the server answered with an HTTP error", "error", 3,
      r"ERROR (?P<code>[45]\d\d): (?P<msg>[^.\n]+)|The requested URL returned error: "
      r"(?P<code2>[45]\d\d)|awaiting response\.\.\. (?P<code3>[45]\d\d) (?P<msg3>.+)",
      "the download server answered HTTP {code} ({msg}): {meaning}",
      "{fix}", "ERROR 403: SSL is required.", ("ERROR 4", "ERROR 5", "returned error: ",
                                                "awaiting response... "), phase="build",
      fields=lambda g, c: _http(g)),
    P("log.git-auth", "the git server wants credentials (or the repository is gone)", "error",
      3, r"could not read (?:Username|Password) for '(?P<url>[^']+)'|Authentication failed for "
      r"'?(?P<url2>[^'\s]+)|fatal: repository '(?P<url3>[^']+)' not found|Permission denied "
      r"\(publickey\)|Host key verification failed",
      "the git server refused anonymous access{where}: the repository is private, was "
      "renamed/deleted (GitHub answers 'authentication' for a missing repo), or the SSH key is "
      "not available in this environment",
      "Check the URL in a browser; for a private repo provide credentials (SSH agent: "
      "kas-container --ssh-dir / SSH_AUTH_SOCK; https: a credential helper) or use a mirror",
      "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
      ("could not read Username", "could not read Password", "Authentication failed",
       "not found", "Permission denied (publickey)", "Host key verification failed"),
      phase="setup",
      fields=lambda g, c: {"where": next((f" ({g[k]})" for k in ("url", "url2", "url3")
                                          if g.get(k)), "")}),
    P("log.git-protocol-disabled", "GitHub refused the git:// protocol", "error", 3,
      r"The unauthenticated git protocol on port 9418 is no longer supported",
      "GitHub turned off unauthenticated git:// (port 9418) in 2022; a SRC_URI or repo URL "
      "still uses it", "Change the URL to https:// (in a recipe: ;protocol=https)",
      "fatal: remote error:\n  The unauthenticated git protocol on port 9418 is no longer "
      "supported.", ("port 9418",), check="checkout.git-protocol", phase="setup"),
    P("log.git-unreachable.git", "a git server could not be reached over git://", "error", 3,
      r"fatal: unable to connect to (?P<host>[^\s:]+)",
      "git could not connect to {host} over the git:// protocol (port 9418): a firewall "
      "blocks it, or the server no longer serves git:// (GitHub since 2022, "
      "git.yoctoproject.org since 2026); git:// ignores http(s)_proxy",
      "Use https: git config --global url.\"https://\".insteadOf git:// (git.yoctoproject."
      "org needs the /git/ path); in recipes add ;protocol=https",
      "fatal: unable to connect to git.yoctoproject.org:\ngit.yoctoproject.org[0: "
      "185.8.30.5]: errno=Connection timed out", ("unable to connect to",),
      family="log.git-unreachable", check="checkout.git-protocol", phase="setup"),
    P("log.git-unreachable.https", "a git server could not be reached over https", "error", 3,
      r"(?:unable to access|无法访问) '(?P<url>[^']+)'\s*[:：]\s*(?P<reason>.+)",
      "git could not reach {url} over https: {reason} (DNS, proxy, TLS interception or a "
      "timeout; port 9418 is not involved)",
      "Check the proxy (https_proxy/no_proxy, exported to the build: kas passes them, plain "
      "docker run needs -e) and DNS, then retry; behind TLS interception set "
      "GIT_SSL_CAINFO to the proxy's CA",
      "fatal: unable to access 'https://git.yoctoproject.org/poky/': Could not resolve host: "
      "git.yoctoproject.org", ("unable to access", "无法访问"),
      family="log.git-unreachable", check="checkout.proxy-passthrough", phase="setup"),
    # curl (lib/cf-socket.c, lib/connect.c, lib/multi.c; git's https transport is curl)
    # and wget (src/connect.c, src/host.c): the host cannot be reached at all
    P("log.host-unreachable", "a download server could not be reached (connect failed)",
      "error", 3,
      r"Failed to connect to (?P<host>[^\s:]+) port (?P<port>\d+)(?: after \d+ ms)?: "
      r"(?P<reason>[^\n]+)|Could not resolve (?:host|proxy): (?P<host2>\S+)|"
      r"Connection timed out after \d+ milli|Connecting to (?P<host3>[^\s|]+)(?: \([^)]*\))?"
      r"\|[^|]*\|:"
      r"(?P<port3>\d+)\.\.\. failed: (?P<reason3>[^.\n]+)|unable to resolve host address "
      r"[‘'`\"]?(?P<host4>[^’'`\"\s]+)",
      "{host}{port} could not be reached from this machine{reason}: no route out (a firewall "
      "or a proxy that is not used: http(s)_proxy not exported to the build), DNS, or the "
      "server was down; this is the network, not the recipe",
      "Check that the build host reaches it (curl -I https://{host}/); behind a proxy export "
      "https_proxy/no_proxy to the build (kas passes them; plain docker run needs -e), then "
      "retry; offline builds need the sources in DL_DIR or a PREMIRROR",
      "Failed to connect to github.com port 443: Connection timed out",
      ("Failed to connect to", "Could not resolve host", "Could not resolve proxy",
       "Connection timed out after", "... failed: ", "unable to resolve host address"),
      phase="build",
      fields=lambda g, c: {"host": g.get("host") or g.get("host2") or g.get("host3") or
                           g.get("host4") or "the server",
                           "port": next((f" (port {g[k]})" for k in ("port", "port3")
                                         if g.get(k)), ""),
                           "reason": next((f": {g[k].strip()}" for k in ("reason", "reason3")
                                           if g.get(k)), "")}),
    P("log.git-unreachable.rpc", "an https git transfer broke", "error", 3,
      r"error: RPC failed; (?P<reason>.+)",
      "the https transfer from the git server failed: {reason} (a server or proxy error, or "
      "a connection dropped mid-transfer)",
      "Retry; if it repeats, check the proxy (https_proxy) and the server's status; a big "
      "clone through a proxy may need git config http.postBuffer / a mirror",
      "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502",
      ("RPC failed",), family="log.git-unreachable", phase="setup"),
)

SOURCES = {
    "log.fetch-http": (S("host", "wget", "ERROR %d: %s.", "ERROR 403: SSL is required."),),
    "log.git-auth": (S("host", "git", "fatal: could not read Username for '%s': terminal "
                       "prompts disabled"),),
    "log.git-protocol-disabled": (S("host", "git (GitHub)", "The unauthenticated git protocol "
                                    "on port 9418 is no longer supported."),),
    "log.git-unreachable.git": (S("host", "git", "fatal: unable to connect to %s:",
                                  "fatal: unable to connect to git.yoctoproject.org:"),),
    "log.git-unreachable.https": (S("host", "git", "fatal: unable to access '%s': %s",
                                    "fatal: unable to access 'https://x.org/y/': Could not "
                                    "resolve host: x.org"),),
    "log.git-unreachable.rpc": (S("host", "git", "error: RPC failed; %s"),),
    "log.host-unreachable": (
        S("host", "curl lib/cf-socket.c", "Failed to connect to %s port %u after %ld ms: %s",
          "Failed to connect to github.com port 443 after 129550 ms: Connection timed out"),
        S("host", "curl (before 7.83)", "Failed to connect to %s port %ld: %s",
          "Failed to connect to github.com port 443: Connection timed out"),
        S("host", "curl lib/hostip.c", "Could not resolve host: %s"),
        S("host", "wget src/connect.c", "Connecting to %s|%s|:%d... failed: %s.",
          "Connecting to ftp.gnu.org|209.51.188.20|:443... failed: Connection timed out."),
        S("host", "wget src/host.c", "unable to resolve host address %s",
          "wget: unable to resolve host address 'ftp.gnu.org'")),
}

PATTERNS = attach(PATTERNS, SOURCES)
