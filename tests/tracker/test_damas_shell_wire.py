"""The wire as damas-core's shell client (`cli/damas`, bash + curl + sed) sees it, against a live server.

The client itself is GPL-3 and not shipped here; this test runs the same curl command lines and the same
`sed` token extraction it runs, and maps status codes to exit codes with its table (200/201→0, 207→7,
400→40, 401→41, 403→43, 404→44, 409→49).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

# The shell client's own commands, as functions of a bash script.
CLIENT = r"""
CURL_ARGS='-ksL -w "\n%{http_code}" -H "Content-Type: application/json"'
map_server_errors() {
  case $1 in
    200|201) return 0 ;; 207) return 7 ;; 400) return 40 ;; 401) return 41 ;; 403) return 43 ;;
    404) return 44 ;; 409) return 49 ;; 500) return 50 ;; 000) return 3 ;; *) return 60 ;;
  esac
}
run() { RES=$(eval "$1"); map_server_errors "${RES##*$'\n'}"; err=$?; echo "$RES" | sed '$d'; return $err; }
signin() {
  RES=$(eval "curl -ks -w \"\n%{http_code}\" --fail -d 'username=$1&password=$2&expiresIn=$3' \
    ${DAMAS_SERVER}/api/signIn/")
  TOKEN=$(echo $RES| sed 's/^.*"token":"\([^"]*\)".*$/\1/')
  echo $TOKEN
  map_server_errors "${RES##*$'\n'}"
}
AUTH='-H "Authorization: Bearer '$DAMAS_TOKEN'"'
"""


def damas(server: str, script: str, token: str = "") -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-c", CLIENT + script],
        env={"PATH": "/usr/bin:/bin", "DAMAS_SERVER": server, "DAMAS_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.strip()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_shell_client_wire(live_server, make_user):
    make_user("alice", "user")
    server = live_server.url
    code, token = damas(server, "signin alice@example.com pw-Secret-123 12h")
    assert code == 0 and len(token) == 40, token
    assert damas(server, "signin alice wrong 1d")[0] == 41

    create = 'run "curl $CURL_ARGS $AUTH -d \'{\\"_id\\":\\"/sh/a\\"}\' ${DAMAS_SERVER}/api/create/"'
    code, out = damas(server, create, token)
    assert code == 0 and json.loads(out)["_id"] == "/sh/a"
    assert damas(server, create, token)[0] == 49
    assert damas(server, create, "not-a-token")[0] == 41
    read = 'run "curl $CURL_ARGS $AUTH -d \'[\\"/sh/a\\",\\"/sh/none\\"]\' ${DAMAS_SERVER}/api/read/"'
    code, out = damas(server, read, token)
    assert code == 7 and json.loads(out)[1] is None
    missing = 'run "curl $CURL_ARGS $AUTH -d \'\\"/sh/none\\"\' ${DAMAS_SERVER}/api/read/"'
    assert damas(server, missing, token)[0] == 44
    assert damas(server, "run \"curl $CURL_ARGS $AUTH -d '{bad' ${DAMAS_SERVER}/api/create/\"", token)[0] == 40
    code, out = damas(server, 'run "curl $CURL_ARGS $AUTH ${DAMAS_SERVER}/api/graph/0//sh/a"', token)
    assert code == 0 and [n["_id"] for n in json.loads(out)] == ["/sh/a"]
    search = (
        """QUERY='{"query": '$1', "sort": '$2', "limit": '$3', "skip": '$4'}'\n"""
        """run "curl $CURL_ARGS $AUTH -X POST ${DAMAS_SERVER}/api/search_mongo/ -d '$QUERY'" """
    )
    code, out = damas(server, f'set -- \'{{"_id":"RX_^/SH/_RXi"}}\' \'{{"_id":1}}\' 0 0\n{search}', token)
    assert code == 0 and out == '{"count":1,"ids":["/sh/a"]}', out
