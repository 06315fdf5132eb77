"""jellyfin-apiclient-python against the Jellyfin demo server (run by tests/it/real_clients.rs).

Usage: JELLYFIN_PASSWORD=... jellyfin_client.py BASE_URL USER
Prints one JSON object with what the library saw; any error ends the script non-zero with
the traceback on stderr.
"""

import json
import os
import sys

from jellyfin_apiclient_python import JellyfinClient


def item(i):
    """What the test compares of an item: id, name, type and its user data."""
    data = i.get("UserData") or {}
    return {
        "Id": i["Id"],
        "Name": i["Name"],
        "Type": i["Type"],
        "Played": data.get("Played"),
        "PlaybackPositionTicks": data.get("PlaybackPositionTicks"),
        "PlayCount": data.get("PlayCount"),
    }


def main():
    base_url, user = sys.argv[1], sys.argv[2]
    password = os.environ["JELLYFIN_PASSWORD"]
    out = {}

    client = JellyfinClient()
    client.config.app("playmark-real-client-test", "1.0", "python-test", "python-test-device")
    client.config.data["auth.ssl"] = False
    # Connect (`GET /System/Info/Public`) and sign in (`POST /Users/AuthenticateByName`).
    state = client.auth.connect_to_address(base_url)
    out["connect_state"] = str(state.get("State"))
    login = client.auth.login(base_url, user, password)
    if not login:
        raise SystemExit("login failed")
    api = client.jellyfin
    user_id = login["User"]["Id"]

    # System info (`GET /System/Info`) and the user (`GET /Users/{userId}`).
    info = api.get_system_info_new()
    out["system_info"] = {k: info.get(k) for k in ("ServerName", "Version", "Id")}
    me = api.get_user()
    out["user"] = {"Id": me["Id"], "Name": me["Name"]}
    by_id = api.get_user(user_id)
    out["user_by_id"] = {"Id": by_id["Id"], "Name": by_id["Name"]}

    # Items with user data (`GET /Users/{userId}/Items`).
    episodes = api.get_user_items(
        include_item_types="Episode",
        recursive=True,
        sort_by="SortName",
        enable_user_data=True,
    )
    out["episodes"] = [item(i) for i in episodes["Items"]]
    out["episode_total"] = episodes["TotalRecordCount"]
    out["one_item"] = item(api.get_item(episodes["Items"][0]["Id"]))

    # Resume: the library's helper (`Users/{userId}/Items?Filters=IsResumable`) and the
    # 10.9+ endpoint (`GET /UserItems/Resume`).
    out["resume_items"] = [item(i) for i in api.get_resume_items()["Items"]]
    resume = api._get("UserItems/Resume", {"userId": "{UserId}", "limit": 20})
    out["user_items_resume"] = [item(i) for i in resume["Items"]]

    # Next up (`GET /Shows/NextUp`).
    out["next_up"] = [item(i) for i in api.get_next(limit=20)["Items"]]

    # Played / unplayed (`POST` / `DELETE /Users/{userId}/PlayedItems/{itemId}`).
    target = next(
        i
        for i in episodes["Items"]
        if not i["UserData"]["Played"] and not i["UserData"]["PlaybackPositionTicks"]
    )
    out["target"] = target["Id"]
    out["after_played"] = api.item_played(target["Id"], True)
    out["after_played_item"] = item(api.get_item(target["Id"]))
    out["after_unplayed"] = api.item_played(target["Id"], False)
    out["after_unplayed_item"] = item(api.get_item(target["Id"]))

    # Sessions: report the target playing (`POST /Sessions/Playing`), then `GET /Sessions`;
    # the library's own `get_sessions()` asks for sessions it can control.
    api.session_playing(
        {"ItemId": target["Id"], "PositionTicks": 6_000_000_000, "IsPaused": True}
    )
    sessions = api.sessions()
    out["sessions"] = [
        {
            "DeviceId": s.get("DeviceId"),
            "Client": s.get("Client"),
            "NowPlayingItem": (s.get("NowPlayingItem") or {}).get("Id"),
            "PositionTicks": (s.get("PlayState") or {}).get("PositionTicks"),
            "IsPaused": (s.get("PlayState") or {}).get("IsPaused"),
        }
        for s in sessions
    ]
    out["controllable_sessions"] = len(api.get_sessions())
    api.session_stop({"ItemId": target["Id"], "PositionTicks": 6_000_000_000})
    out["after_stop_item"] = item(api.get_item(target["Id"]))

    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
