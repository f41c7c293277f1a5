"""mlTrainer: the Streamlit entry point. Draws the login gate and the navigation."""

import streamlit as st

from engine.observability.metrics import PAGE_VIEWS
from ui import auth
from ui.bootstrap import boot
from ui.jobs import watch_jobs
from ui.navigation import visible_pages
from ui.text import md_escape


def main() -> None:
    st.set_page_config(page_title="mlTrainer", page_icon=":material/insights:", layout="wide")
    boot()

    user = auth.authenticate()
    if user is None:
        # st.navigation must run on every rerun: without it Streamlit would fall back to
        # serving files from pages/ directly.
        login = st.Page(auth.login_page, title="Log in", icon=":material/login:",
                        url_path="login")
        st.navigation([login], position="hidden").run()
        st.stop()

    sections: dict[str, list] = {}
    for index, spec in enumerate(visible_pages(user.role)):
        page = st.Page(spec.path, title=spec.title, icon=spec.icon, default=index == 0)
        sections.setdefault(spec.section, []).append(page)
    navigation = st.navigation(sections)

    with st.sidebar:
        st.text(st.session_state.get("display_name") or user.username)
        st.caption(md_escape(f"{user.username} · role: {user.role}"))
        st.button("Log out", key="logout_button", icon=":material/logout:", on_click=auth.logout)
        watch_jobs(user)  # a notice when one of the user's background jobs ends

    PAGE_VIEWS.labels(navigation.title).inc()
    navigation.run()


# Streamlit runs this file as __main__. Worker processes started with "spawn" re-import
# the main module as __mp_main__ (under AppTest that is this file): they must not boot.
if __name__ == "__main__":
    main()
