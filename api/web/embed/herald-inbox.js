// <herald-inbox api="https://herald.example.com" user="usr_1" token="..."> — Herald's inbox inside any page of an
// origin listed in HERALD_INBOX_ORIGINS. Plain DOM in a shadow root, no build step; themed by CSS custom
// properties (--herald-accent, --herald-bg, --herald-fg, --herald-muted, --herald-font, --herald-radius).
(() => {
  "use strict";
  if (customElements.get("herald-inbox")) return;

  const STRINGS = {
    en: {
      bell: (n) => (n ? `Notifications, ${n} unread` : "Notifications"),
      title: "Notifications", unread: "Unread", all: "All", archived: "Archived",
      markAllRead: "Mark all read", preferences: "Preferences", back: "Back to notifications",
      empty: "Nothing here.", loading: "Loading…", more: "Loading more…",
      read: "Mark read", markUnread: "Mark unread", archive: "Archive", unarchive: "Move to inbox",
      snooze: "Snooze", laterToday: "Later today", tomorrow: "Tomorrow", nextWeek: "Next week",
      pickTime: "At a time…", snoozeAt: "Snooze until", snoozeSet: "Snooze", close: "Close",
      channels: "Channels", categories: "Categories", quietHours: "Quiet hours", from: "From", to: "To",
      save: "Save", saved: "Saved.", noCategories: "No categories yet.",
      channel: { email: "Email", sms: "SMS", push: "Push", in_app: "In the app", webhook: "Webhook" },
      unauthorized: "Your session for notifications has expired or was revoked. Sign in again to see them.",
      failed: "Notifications could not be loaded. Retrying…",
    },
    fr: {
      bell: (n) => (n ? `Notifications, ${n} non lues` : "Notifications"),
      title: "Notifications", unread: "Non lues", all: "Toutes", archived: "Archivées",
      markAllRead: "Tout marquer comme lu", preferences: "Préférences", back: "Retour aux notifications",
      empty: "Rien ici.", loading: "Chargement…", more: "Chargement de la suite…",
      read: "Marquer comme lue", markUnread: "Marquer comme non lue", archive: "Archiver",
      unarchive: "Remettre dans la boîte", snooze: "Reporter", laterToday: "Plus tard aujourd’hui",
      tomorrow: "Demain", nextWeek: "La semaine prochaine", pickTime: "À une heure…",
      snoozeAt: "Reporter jusqu’à", snoozeSet: "Reporter", close: "Fermer",
      channels: "Canaux", categories: "Catégories", quietHours: "Heures calmes", from: "De", to: "À",
      save: "Enregistrer", saved: "Enregistré.", noCategories: "Aucune catégorie pour l’instant.",
      channel: { email: "E-mail", sms: "SMS", push: "Push", in_app: "Dans l’application", webhook: "Webhook" },
      unauthorized: "Votre session de notifications a expiré ou a été révoquée. Reconnectez-vous pour les voir.",
      failed: "Les notifications n’ont pas pu être chargées. Nouvel essai…",
    },
  };
  const CHANNELS = ["email", "sms", "push", "in_app", "webhook"];
  const TABS = [["unread", "unread"], ["all", null], ["archived", "archived"]];

  const CSS = `
    :host { --_accent: var(--herald-accent, #1d4ed8); --_bg: var(--herald-bg, #fff); --_fg: var(--herald-fg, #111827);
      --_muted: var(--herald-muted, #4b5563); --_radius: var(--herald-radius, 8px);
      font-family: var(--herald-font, system-ui, sans-serif); color: var(--_fg); position: relative;
      display: inline-block; }
    button, input, select { font: inherit; }
    button { cursor: pointer; }
    :focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
    .bell { position: relative; background: none; border: 1px solid transparent; border-radius: 50%; padding: 6px;
      color: var(--_fg); line-height: 0; }
    .bell svg { width: 24px; height: 24px; }
    .badge { position: absolute; top: -2px; right: -4px; min-width: 18px; padding: 0 5px; border-radius: 9px;
      background: #b91c1c; color: #fff; font-size: 12px; line-height: 18px; text-align: center; }
    .badge[hidden] { display: none; }
    .panel { position: absolute; right: 0; top: calc(100% + 6px); width: min(380px, calc(100vw - 16px));
      max-height: min(560px, 80vh); display: flex; flex-direction: column; background: var(--_bg);
      border: 1px solid #d1d5db; border-radius: var(--_radius); box-shadow: 0 10px 30px rgba(0,0,0,.15);
      z-index: 2147483000; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 10px 12px; border-bottom: 1px solid #e5e7eb; }
    h2 { font-size: 16px; margin: 0; }
    .link { background: none; border: none; color: var(--_accent); padding: 4px; text-decoration: underline; }
    [role=tablist] { display: flex; gap: 4px; padding: 6px 12px 0; border-bottom: 1px solid #e5e7eb; }
    [role=tab] { background: none; border: none; border-bottom: 2px solid transparent; padding: 6px 8px;
      color: var(--_muted); }
    [role=tab][aria-selected=true] { color: var(--_fg); border-bottom-color: var(--_accent); font-weight: 600; }
    .list { overflow-y: auto; flex: 1; }
    .items { margin: 0; padding: 0; list-style: none; }
    .item { padding: 10px 12px; border-bottom: 1px solid #f3f4f6; }
    .item.unread { background: color-mix(in srgb, var(--_accent) 7%, var(--_bg)); }
    .item h3 { font-size: 14px; margin: 0 0 2px; }
    .item.unread h3::before { content: "● " / ""; color: var(--_accent); }
    .item p { margin: 0 0 4px; font-size: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .item time { font-size: 12px; color: var(--_muted); }
    .tools { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
    .tools button, .tools select, .actions a { font-size: 13px; border: 1px solid #d1d5db; background: var(--_bg);
      color: var(--_fg); border-radius: 6px; padding: 3px 8px; }
    .actions { display: flex; gap: 6px; margin-top: 6px; }
    .actions a { background: var(--_accent); border-color: var(--_accent); color: #fff; text-decoration: none; }
    .note { padding: 16px 12px; color: var(--_muted); font-size: 14px; }
    .error { padding: 12px; color: #991b1b; font-size: 14px; }
    .prefs { padding: 8px 12px 12px; overflow-y: auto; }
    fieldset { border: 1px solid #e5e7eb; border-radius: 6px; margin: 8px 0; padding: 6px 10px; }
    legend { font-weight: 600; font-size: 14px; }
    label { display: flex; align-items: center; gap: 6px; font-size: 14px; padding: 2px 0; }
    .primary { background: var(--_accent); color: #fff; border: none; border-radius: 6px; padding: 6px 12px; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  `;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value == null) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function language() {
    const wanted = [...(navigator.languages || []), navigator.language || "en"];
    for (const tag of wanted) {
      const lang = String(tag).toLowerCase().split("-")[0];
      if (STRINGS[lang]) return lang;
    }
    return "en";
  }

  class AuthError extends Error {}

  class HeraldInbox extends HTMLElement {
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.items = new Map();
      this.tab = "unread";
      this.cursor = null;
      this.loading = false;
      this.arrived = null;  // what the stream brought while a first page was on its way
      this.unread = 0;
      this.baseTitle = document.title;
      this.stream = null;
    }

    get api() { return (this.getAttribute("api") || "").replace(/\/$/, ""); }
    get lang() {
      const given = (this.getAttribute("locale") || "").toLowerCase().split("-")[0];
      return STRINGS[given] ? given : language();
    }
    get t() { return STRINGS[this.lang]; }

    connectedCallback() {
      this.render();
      this.refresh();
      this.listen();
    }

    disconnectedCallback() {
      if (this.stream) this.stream.abort();
      this.stream = null;
      document.title = this.baseTitle;
    }

    async call(method, path, body) {
      const response = await fetch(`${this.api}/v1/me${path}`, {
        method, headers: { Authorization: `Bearer ${this.getAttribute("token")}`,
                           ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (response.status === 401) throw new AuthError();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
      return response.status === 204 ? null : response.json();
    }

    render() {
      const t = this.t;
      this.badge = el("span", { class: "badge", hidden: true, "aria-hidden": "true" });
      this.bell = el("button", { class: "bell", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false",
                                 "aria-label": t.bell(0), onclick: () => this.toggle() });
      this.bell.innerHTML = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ' +
        'aria-hidden="true"><path d="M18 8a6 6 0 1 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/>' +
        '<path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>';
      this.bell.append(this.badge);
      this.live = el("div", { class: "sr", "aria-live": "polite", role: "status" });
      this.message = el("div", { class: "error", role: "alert", hidden: true });
      this.tabs = el("div", { role: "tablist", "aria-label": t.title });
      for (const [name] of TABS) {
        this.tabs.append(el("button", { role: "tab", type: "button", id: `tab-${name}`, "data-tab": name,
                                        "aria-selected": String(name === this.tab), "aria-controls": "feed",
                                        tabindex: name === this.tab ? "0" : "-1", text: t[name],
                                        onclick: () => this.select(name) }));
      }
      this.tabs.addEventListener("keydown", (event) => this.tabKeys(event));
      this.list = el("ul", { class: "items" });
      this.scroller = el("div", { class: "list", id: "feed", role: "tabpanel", "aria-labelledby": `tab-${this.tab}`,
                                  tabindex: "0" }, this.list);
      this.sentinel = el("li", { class: "note", "aria-hidden": "true" });
      this.prefs = el("div", { class: "prefs", hidden: true });
      this.feedView = el("div", { style: "display:contents" }, this.tabs, this.scroller);
      this.prefsButton = el("button", { class: "link", type: "button", text: t.preferences,
                                        onclick: () => this.showPrefs(this.prefs.hidden) });
      this.panel = el("div", { class: "panel", role: "dialog", "aria-label": t.title, hidden: true,
                               onkeydown: (event) => { if (event.key === "Escape") this.toggle(false); } },
        el("header", {}, el("h2", { text: t.title }),
           el("div", {}, el("button", { class: "link", type: "button", text: t.markAllRead,
                                        onclick: () => this.markAllRead() }), this.prefsButton)),
        this.message, this.feedView, this.prefs);
      this.root.replaceChildren(el("style", { text: CSS }), this.bell, this.panel, this.live);
      new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting) && this.cursor && !this.loading) this.load(false);
      }, { root: this.scroller }).observe(this.sentinel);
    }

    toggle(open = this.panel.hidden) {
      this.panel.hidden = !open;
      this.bell.setAttribute("aria-expanded", String(open));
      if (open) {
        this.showPrefs(false);
        this.tabs.querySelector("[aria-selected=true]").focus();
        this.call("POST", "/feed/seen-all").catch((error) => this.fail(error));
      } else {
        this.bell.focus();
      }
    }

    tabKeys(event) {
      const names = TABS.map(([name]) => name);
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = names[(names.indexOf(this.tab) + step + names.length) % names.length];
      this.select(next);
      this.tabs.querySelector(`[data-tab=${next}]`).focus();
    }

    select(name) {
      this.tab = name;
      for (const tab of this.tabs.children) {
        const selected = tab.dataset.tab === name;
        tab.setAttribute("aria-selected", String(selected));
        tab.tabIndex = selected ? 0 : -1;
      }
      this.scroller.setAttribute("aria-labelledby", `tab-${name}`);
      this.refresh();
    }

    refresh() {
      this.generation = (this.generation || 0) + 1;  // a page still on its way for another tab is dropped
      this.items.clear();
      this.cursor = null;
      this.list.replaceChildren(el("li", { class: "note", text: this.t.loading }));
      this.load(true);
    }

    async load(first, retries = 2) {
      this.loading = true;
      const status = TABS.find(([name]) => name === this.tab)[1];
      const query = new URLSearchParams({ limit: "20" });
      if (status) query.set("status", status);
      if (!first && this.cursor) query.set("cursor", this.cursor);
      const generation = this.generation;
      if (first) this.arrived = { items: new Map(), count: null };
      try {
        const page = await this.call("GET", `/feed?${query}`);
        if (generation !== this.generation) return;
        if (first) {
          // The page may have been read before the events that reached us while it travelled, and it
          // replaces the list: read it again, and after the last try keep the events' items it lacks.
          const arrived = this.arrived;
          if (arrived.count !== null && retries > 0) return await this.load(true, retries - 1);
          this.arrived = null;
          const pickers = new Map([...this.items].map(([id, { node }]) => [id, this.takePicker(node)]));
          this.list.replaceChildren();
          this.items.clear();
          for (const item of page.items) this.place(item, false);
          const missing = [...arrived.items.values()].filter((item) => !this.items.has(item.notification_id));
          for (const item of missing) this.place(item, true);
          for (const [id, { node }] of this.items) this.givePicker(node, pickers.get(id));
          this.count(missing.length ? arrived.count : page.unread_count);
        } else {
          for (const item of page.items) this.place(item, false);
          this.count(page.unread_count);
        }
        this.cursor = page.next_cursor;
        this.sentinel.textContent = this.cursor ? this.t.more : "";
        if (this.cursor) this.list.append(this.sentinel); else this.sentinel.remove();
        if (!this.items.size) this.list.replaceChildren(el("li", { class: "note", text: this.t.empty }));
        this.message.hidden = true;
      } catch (error) {
        if (first && generation === this.generation) this.arrived = null;
        this.fail(error);
      } finally {
        this.loading = false;
      }
    }

    belongs(item) {
      const snoozed = item.snoozed_until && new Date(item.snoozed_until) > new Date();
      if (this.tab === "archived") return Boolean(item.archived_at);
      if (item.archived_at || snoozed) return false;
      return this.tab === "all" || !item.read_at;
    }

    place(item, live) {
      const existing = this.items.get(item.notification_id);
      if (!this.belongs(item)) {
        if (existing) { existing.node.remove(); this.items.delete(item.notification_id); }
        if (!this.items.size) this.list.replaceChildren(el("li", { class: "note", text: this.t.empty }));
        return;
      }
      const node = this.itemNode(item);
      const picker = existing ? this.takePicker(existing.node) : null;
      if (existing && existing.node.isConnected) {
        existing.node.replaceWith(node);
      } else if (live) {
        this.list.querySelector(".note:not([aria-hidden])")?.remove();
        const after = [...this.items.values()].find((other) => other.item.created_at < item.created_at);
        this.list.insertBefore(node, after ? after.node : this.list.firstChild);
      } else {
        this.list.insertBefore(node, this.sentinel.parentNode ? this.sentinel : null);
      }
      this.givePicker(node, picker);
      this.items.set(item.notification_id, { item, node });
    }

    // A redrawn item keeps the time picker its reader has open, and the focus in it.
    takePicker(node) {
      const form = node.querySelector("form");
      if (!form) return null;
      return { form, focused: form.contains(this.root.activeElement) ? this.root.activeElement : null };
    }

    givePicker(node, picker) {
      if (!picker) return;
      node.append(picker.form);
      if (picker.focused) picker.focused.focus();
    }

    itemNode(item) {
      const t = this.t;
      const id = item.notification_id;
      const post = (path, body) => this.call("POST", `/feed/${encodeURIComponent(id)}/${path}`, body)
        .then((changed) => changed && changed.notification_id && this.place(changed, true))
        .catch((error) => this.fail(error));
      const headingId = `item-${id}`;
      const snooze = el("select", { "aria-label": t.snooze, onchange: (event) => {
        const choice = event.target.value;
        event.target.value = "";
        if (choice === "pick") return this.pickTime(node, post);
        if (choice) post("snooze", { until: snoozeUntil(choice).toISOString() });
      } }, el("option", { value: "", text: t.snooze }), el("option", { value: "later", text: t.laterToday }),
        el("option", { value: "tomorrow", text: t.tomorrow }), el("option", { value: "week", text: t.nextWeek }),
        el("option", { value: "pick", text: t.pickTime }));
      const tools = el("div", { class: "tools" },
        el("button", { type: "button", text: item.read_at ? t.markUnread : t.read,
                       onclick: () => post(item.read_at ? "unread" : "read") }),
        el("button", { type: "button", text: item.archived_at ? t.unarchive : t.archive,
                       onclick: () => post(item.archived_at ? "unarchive" : "archive") }),
        item.archived_at ? null : snooze);
      const actions = (item.actions || []).length ? el("div", { class: "actions" }) : null;
      (item.actions || []).forEach((action, index) => {
        actions.append(el("a", { href: action.url, target: "_blank", rel: "noopener", text: action.label,
                                 onclick: () => { this.call("POST", `/feed/${encodeURIComponent(id)}/actions/${index}`)
                                   .catch((error) => this.fail(error)); if (!item.read_at) post("read"); } }));
      });
      const when = new Date(item.created_at);
      const node = el("li", { class: `item${item.read_at ? "" : " unread"}`, "data-id": id },
        el("h3", { id: headingId, text: item.subject || item.body.slice(0, 80) }),
        item.subject ? el("p", { text: item.body }) : null,
        el("time", { datetime: item.created_at,
                     text: when.toLocaleString(this.lang, { dateStyle: "medium", timeStyle: "short" }) }),
        actions, tools);
      return node;
    }

    pickTime(node, post) {
      const t = this.t;
      const input = el("input", { type: "datetime-local", step: "1", "aria-label": t.snoozeAt });
      const form = el("form", { class: "tools", onsubmit: (event) => {
        event.preventDefault();
        if (input.value) post("snooze", { until: new Date(input.value).toISOString() });
        form.remove();
      } }, input, el("button", { type: "submit", text: t.snoozeSet }),
        el("button", { type: "button", text: t.close, onclick: () => form.remove() }));
      node.append(form);
      input.focus();
    }

    async markAllRead() {
      try {
        await this.call("POST", "/feed/read-all");
        this.refresh();
      } catch (error) {
        this.fail(error);
      }
    }

    count(unread) {
      this.unread = unread;
      this.badge.hidden = unread === 0;
      this.badge.textContent = unread > 99 ? "99+" : String(unread);
      this.bell.setAttribute("aria-label", this.t.bell(unread));
      document.title = unread ? `(${unread}) ${this.baseTitle}` : this.baseTitle;
    }

    fail(error) {
      this.message.hidden = false;
      this.message.textContent = error instanceof AuthError ? this.t.unauthorized : this.t.failed;
      if (error instanceof AuthError) {
        this.authFailed = true;
        this.list.replaceChildren();
        this.count(0);
        this.bell.setAttribute("aria-label", this.t.unauthorized);
      }
      this.dispatchEvent(new CustomEvent("herald-error", { detail: { unauthorized: error instanceof AuthError } }));
    }

    async listen() {
      // fetch rather than EventSource: the token goes in the Authorization header, never in a URL.
      let delay = 1000;
      while (this.isConnected && !this.authFailed) {
        this.stream = new AbortController();
        try {
          const response = await fetch(`${this.api}/v1/me/feed/stream`, {
            headers: { Authorization: `Bearer ${this.getAttribute("token")}` }, signal: this.stream.signal });
          if (response.status === 401) throw new AuthError();
          if (!response.ok) throw new Error(`stream: ${response.status}`);
          delay = 1000;
          await this.read(response.body.getReader());
        } catch (error) {
          if (error instanceof AuthError) { this.fail(error); return; }
          if (!this.isConnected) return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30000);
        this.refresh();  // what happened while the stream was down
      }
    }

    async read(reader) {
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trim()).join("\n");
          if (data) this.onEvent(JSON.parse(data));
        }
      }
    }

    onEvent(event) {
      if (this.arrived) {
        if (event.type === "item") this.arrived.items.set(event.item.notification_id, event.item);
        this.arrived.count = event.unread_count;
      }
      if (event.type === "item") {
        this.place(event.item, true);
        if (event.new) this.live.textContent = event.item.subject || event.item.body;
      }
      this.count(event.unread_count);
    }

    async showPrefs(open) {
      this.prefs.hidden = !open;
      this.feedView.hidden = open;
      this.feedView.style.display = open ? "none" : "contents";
      this.prefsButton.textContent = open ? this.t.back : this.t.preferences;
      if (!open) return;
      try {
        this.renderPrefs(await this.call("GET", "/preferences"));
      } catch (error) {
        this.fail(error);
      }
    }

    renderPrefs(prefs) {
      const t = this.t;
      const categories = new Set(Object.keys(prefs.categories || {}));
      for (const { item } of this.items.values()) if (item.category) categories.add(item.category);
      const toggle = (group, name, label, on) => el("label", {},
        el("input", { type: "checkbox", checked: on, onchange: (event) =>
          this.call("PATCH", "/preferences", { [group]: { [name]: event.target.checked } })
            .then(() => { this.live.textContent = t.saved; }).catch((error) => this.fail(error)) }), label);
      const quiet = prefs.quiet_hours || {};
      const start = el("input", { type: "time", value: quiet.start || "" });
      const end = el("input", { type: "time", value: quiet.end || "" });
      this.prefs.replaceChildren(
        el("fieldset", {}, el("legend", { text: t.channels }),
           ...CHANNELS.map((c) => toggle("channels", c, t.channel[c], (prefs.channels || {})[c] !== false))),
        el("fieldset", {}, el("legend", { text: t.categories }),
           ...(categories.size ? [...categories].sort().map((c) =>
             toggle("categories", c, c, (prefs.categories || {})[c] !== false))
             : [el("p", { class: "note", text: t.noCategories })])),
        el("form", { onsubmit: (event) => {
          event.preventDefault();
          const value = start.value && end.value ? { start: start.value, end: end.value } : null;
          this.call("PATCH", "/preferences", { quiet_hours: value })
            .then(() => { this.live.textContent = t.saved; }).catch((error) => this.fail(error));
        } }, el("fieldset", {}, el("legend", { text: t.quietHours }),
               el("label", {}, t.from, start), el("label", {}, t.to, end),
               el("button", { class: "primary", type: "submit", text: t.save }))));
    }
  }

  function snoozeUntil(choice) {
    const at = new Date();
    if (choice === "later") at.setHours(at.getHours() + 3);
    if (choice === "tomorrow") { at.setDate(at.getDate() + 1); at.setHours(9, 0, 0, 0); }
    if (choice === "week") { at.setDate(at.getDate() + ((8 - at.getDay()) % 7 || 7)); at.setHours(9, 0, 0, 0); }
    return at;
  }

  customElements.define("herald-inbox", HeraldInbox);
})();
