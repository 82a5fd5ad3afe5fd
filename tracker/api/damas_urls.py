"""The damas-core compatible routes, mounted by syncsite.urls under /api/ (see shared TRACKER.md).

Trailing slashes are optional, as with the original server. Ids in paths keep their own slashes
(`version//project/file.exr`).
"""

from django.urls import re_path

from tracker.api import damas, damas_files

urlpatterns = [
    re_path(r"^create/?$", damas.create, name="damas-create"),
    re_path(r"^read/?$", damas.read, name="damas-read"),
    re_path(r"^read/(?P<ids>.+)$", damas.read, name="damas-read-ids"),
    re_path(r"^update/?$", damas.update, name="damas-update"),
    re_path(r"^upsert/?$", damas.upsert, name="damas-upsert"),
    re_path(r"^delete/?$", damas.delete, name="damas-delete"),
    re_path(r"^search/?$", damas.search, name="damas-search-empty"),
    re_path(r"^search/(?P<query>.+)$", damas.search, name="damas-search"),
    re_path(r"^search_one/?$", damas.search_one, name="damas-search-one-empty"),
    re_path(r"^search_one/(?P<query>.+)$", damas.search_one, name="damas-search-one"),
    re_path(r"^search_mongo/?$", damas.search_mongo, name="damas-search-mongo"),
    re_path(r"^graph/?$", damas.graph, name="damas-graph-all"),
    re_path(r"^graph/(?P<depth>[^/]+)/?$", damas.graph, name="damas-graph"),
    re_path(r"^graph/(?P<depth>[^/]+)/(?P<ids>.+)$", damas.graph_ids, name="damas-graph-ids"),
    re_path(r"^lock/?$", damas.lock, name="damas-lock"),
    re_path(r"^unlock/?$", damas.unlock, name="damas-unlock"),
    re_path(r"^publish/?$", damas.publish, name="damas-publish"),
    re_path(r"^comment/?$", damas.comment, name="damas-comment"),
    re_path(r"^version/?$", damas.version, name="damas-version-missing"),
    re_path(r"^version/(?P<node_id>.+)$", damas.version, name="damas-version"),
    re_path(r"^signIn/?$", damas.sign_in, name="damas-signin"),
    re_path(r"^verify/?$", damas.verify, name="damas-verify"),
    re_path(r"^file/(?P<path>.+)$", damas_files.file, name="damas-file"),
    re_path(r"^upload/?$", damas_files.upload, name="damas-upload"),
    re_path(r"^createToken/?$", damas.create_token, name="damas-create-token"),
    re_path(r"^tokens/?$", damas.tokens, name="damas-tokens"),
    re_path(r"^tokens/(?P<token_id>[^/]+)/?$", damas.tokens, name="damas-token"),
    re_path(r"^lostPassword/?$", damas.lost_password, name="damas-lost-password"),
    re_path(r"^lostPassword/(?P<email>[^/]+)/?$", damas.lost_password, name="damas-lost-password-email"),
    re_path(r"^changePassword/?$", damas.change_password, name="damas-change-password"),
    re_path(r"^resetPassword/?$", damas.reset_password, name="damas-reset-password-body"),
    re_path(r"^resetPassword/(?P<token>[^/]+)/?$", damas.reset_password, name="damas-reset-password"),
]
