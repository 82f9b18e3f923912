# Debian packages every area needs. Areas add theirs to APT_PACKAGES in
# their own file *before* 10-install.sh runs (files are sourced in order).
APT_PACKAGES="git python3 python3-pip python3-venv ca-certificates"
