"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = (
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
    P("log.git-unreachable.rpc", "an https git transfer broke", "error", 3,
      r"error: RPC failed; (?P<reason>.+)",
      "the https transfer from the git server failed: {reason} (a server or proxy error, or "
      "a connection dropped mid-transfer)",
      "Retry; if it repeats, check the proxy (https_proxy) and the server's status; a big "
      "clone through a proxy may need git config http.postBuffer / a mirror",
      "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502",
      ("RPC failed",), family="log.git-unreachable", phase="setup"),
)
