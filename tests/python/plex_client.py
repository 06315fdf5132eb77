"""python-plexapi against the Plex demo server (run by tests/it/real_clients.rs).

Usage: PLEX_TOKEN=... plex_client.py BASE_URL
Prints one JSON object with what the library saw; any error ends the script non-zero with
the traceback on stderr. The library asks for XML (Plex's default): it never sends
`Accept: application/json`.
"""

import json
import os
import sys

from plexapi.server import PlexServer


def item(v):
    """What the test compares of a video: key, title, play state."""
    return {
        "ratingKey": str(v.ratingKey),
        "type": v.type,
        "title": v.title,
        "viewOffset": v.viewOffset,
        "viewCount": v.viewCount,
        "isPlayed": v.isPlayed,
    }


def main():
    base_url = sys.argv[1]
    token = os.environ["PLEX_TOKEN"]
    out = {}

    # Connect: `GET /` (the server's MediaContainer).
    plex = PlexServer(base_url, token, timeout=10)
    out["server"] = {
        "friendlyName": plex.friendlyName,
        "machineIdentifier": plex.machineIdentifier,
        "version": plex.version,
    }

    # Library sections: `GET /library`, `GET /library/sections`.
    out["sections"] = [
        {"key": s.key, "type": s.type, "title": s.title} for s in plex.library.sections()
    ]
    tv = plex.library.section("TV Shows")
    movies = plex.library.section("Movies")

    # Search: `GET /library/sections/{id}/all?title=…&type=…`.
    shows = tv.search(title="lighthouse")
    out["search_shows"] = [s.title for s in shows]
    out["search_movies"] = [m.title for m in movies.search()]
    show = shows[0]

    # Episodes: `allLeaves` of the show, `children` of the show and of a season.
    episodes = show.episodes()
    out["show_episodes"] = [item(e) for e in episodes]
    seasons = show.seasons()
    out["seasons"] = [{"title": s.title, "index": s.index} for s in seasons]
    out["season_episodes"] = [item(e) for e in seasons[-1].episodes()]
    out["episode_lookup"] = item(show.episode(season=1, episode=2))

    # Mark played / unplayed: `/:/scrobble`, `/:/unscrobble`, then a reload of the item.
    target = next(e for e in episodes if not e.isPlayed and not e.viewOffset)
    target.markPlayed()
    target.reload()
    out["after_mark_played"] = item(target)
    target.markUnplayed()
    target.reload()
    out["after_mark_unplayed"] = item(target)

    # A resume point: `/:/timeline` with duration (python-plexapi sends the item's own).
    target.updateTimeline(600000, state="stopped")
    target.reload()
    out["after_timeline"] = item(target)

    # On deck and continue watching.
    out["on_deck"] = [item(v) for v in plex.library.onDeck()]
    out["section_on_deck"] = [item(v) for v in tv.onDeck()]
    out["continue_watching"] = [item(v) for v in plex.continueWatching()]

    # Sessions: a player reports the target playing (a timeline with a session identifier),
    # then `GET /status/sessions` lists it.
    plex.query(
        f"/:/timeline?ratingKey={target.ratingKey}&key={target.key}"
        f"&state=playing&time=660000&duration={target.duration}",
        headers={"X-Plex-Session-Identifier": "python-session-1"},
    )
    out["sessions"] = [
        {
            "ratingKey": str(s.ratingKey),
            "viewOffset": s.viewOffset,
            "state": s.player.state if s.player else None,
            "user": s.usernames,
        }
        for s in plex.sessions()
    ]

    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
