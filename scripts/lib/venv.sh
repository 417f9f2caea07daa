# Sourced by the repo's shell scripts: where the Python tool venv lives.
# shellcheck shell=bash
yg_venv_dir() {
  printf '%s\n' "${YG_VENV:-${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/venv}"
}
