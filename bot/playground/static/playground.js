// The playground's Slack client: renders the stand-in Slack's workspace and sends what a person
// does to the playground, which turns it into the payload Slack would send the bot.
// Everything is built from DOM text nodes, never innerHTML: the bot's text is user text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const store = window.localStorage;

  let state = null;
  let me = store.getItem("distill.me") || "UALICE";
  let channelId = store.getItem("distill.channel") || "C0ROUTER";
  let threadTs = null;
  let showHome = false;
  let revision = null;
  let generation = 0;
  let controller = null;
  let modalKey = null;

  // -- DOM helpers ------------------------------------------------------------------------------

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // replaceChildren, skipping the nulls that conditional parts leave.
  function fill(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  }

  function toast(text) {
    const el = h("div", { class: "toast", role: "status" }, text);
    document.body.append(el);
    setTimeout(() => el.remove(), 5000);
  }

  async function post(route, body) {
    const response = await fetch(`/api/${route}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: me, ...body }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) toast(answer.error || `The playground answered ${response.status}.`);
    return answer;
  }

  // -- people and time --------------------------------------------------------------------------

  function personName(id) {
    if (!state) return id;
    if (id === state.bot.id) return state.bot.name;
    const person = state.people.find((p) => p.id === id);
    return person ? person.name : id;
  }

  const COLORS = ["#e8912d", "#2bac76", "#1d9bd1", "#e01e5a", "#4a154b", "#36c5f0"];
  function avatar(id) {
    if (state && id === state.bot.id) return h("div", { class: "avatar bot" }, "D");
    const index = state ? state.people.findIndex((p) => p.id === id) : 0;
    const color = COLORS[(index + COLORS.length) % COLORS.length];
    return h("div", { class: "avatar", style: `background:${color}` }, personName(id).slice(0, 1));
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const pad = (n) => String(n).padStart(2, "0");
  const clockTime = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const shortDate = (d) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  const dayKey = (d) => d.toISOString().slice(0, 10);

  function prettyDate(d) {
    const now = state ? new Date(state.now) : new Date();
    if (dayKey(d) === dayKey(now)) return "today";
    if (dayKey(d) === dayKey(new Date(now.getTime() - 86400000))) return "yesterday";
    return shortDate(d) + (d.getUTCFullYear() !== now.getUTCFullYear() ? `, ${d.getUTCFullYear()}` : "");
  }

  // Slack's <!date^seconds^format|fallback>, in UTC like the rest of the playground.
  function slackDate(seconds, format) {
    const d = new Date(seconds * 1000);
    const tokens = {
      date_short_pretty: prettyDate(d),
      date_pretty: prettyDate(d),
      date_long_pretty: prettyDate(d),
      date_short: shortDate(d) + `, ${d.getUTCFullYear()}`,
      date: `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`,
      date_long: `${DAYS[d.getUTCDay()]}, ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`,
      date_num: dayKey(d),
      time: clockTime(d),
      time_secs: `${clockTime(d)}:${pad(d.getUTCSeconds())}`,
    };
    return format.replace(/\{(\w+)\}/g, (all, name) => (name in tokens ? tokens[name] : all));
  }

  // -- mrkdwn -----------------------------------------------------------------------------------

  const EMOJI = {
    white_check_mark: "✅", heavy_check_mark: "✔️", warning: "⚠️", rocket: "🚀", alarm_clock: "⏰",
    lock: "🔒", unlock: "🔓", x: "❌", no_entry: "⛔", pencil2: "✏️", heavy_minus_sign: "➖",
    hourglass_flowing_sand: "⏳", hourglass: "⌛", double_vertical_bar: "⏸️", recycle: "♻️", mag: "🔍",
    tada: "🎉", bell: "🔔", memo: "📝", page_facing_up: "📄", chart_with_upwards_trend: "📈",
    arrow_right: "➡️", clipboard: "📋", stopwatch: "⏱️", zzz: "💤", checkered_flag: "🏁",
    large_green_circle: "🟢", red_circle: "🔴", large_yellow_circle: "🟡", information_source: "ℹ️",
    question: "❓", bar_chart: "📊", test_tube: "🧪", construction: "🚧", stop_sign: "🛑",
    white_large_square: "⬜", leftwards_arrow_with_hook: "↩️", octagonal_sign: "🛑", traffic_light: "🚥",
    trophy: "🏆", arrows_counterclockwise: "🔄",
  };

  // Slack escapes only these three in text; everything else is literal.
  const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

  const INLINE = [
    ["code", /`([^`\n]+)`/],
    ["control", /<([^<>\n]+)>/],
    ["bold", /(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])/],
    ["italic", /(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])/],
    ["strike", /(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])/],
    ["emoji", /:([a-z0-9_+-]+):/],
  ];

  function plainText(s, out) {
    s.split("\n").forEach((line, i) => {
      if (i > 0) out.push(h("br"));
      if (line) out.push(document.createTextNode(unescape(line)));
    });
  }

  function inline(s) {
    const out = [];
    while (s) {
      let best = null;
      for (const [kind, pattern] of INLINE) {
        const m = pattern.exec(s);
        if (m && (best === null || m.index < best.m.index)) best = { kind, m };
      }
      if (best === null) {
        plainText(s, out);
        break;
      }
      const { kind, m } = best;
      plainText(s.slice(0, m.index), out);
      const body = m[1];
      if (kind === "code") out.push(h("code", {}, unescape(body)));
      else if (kind === "control") out.push(control(body));
      else if (kind === "bold") out.push(h("b", {}, inline(body)));
      else if (kind === "italic") out.push(h("i", {}, inline(body)));
      else if (kind === "strike") out.push(h("s", {}, inline(body)));
      else if (kind === "emoji") out.push(EMOJI[body] ? h("span", { class: "emoji", title: `:${body}:` }, EMOJI[body]) : `:${body}:`);
      s = s.slice(m.index + m[0].length);
    }
    return out;
  }

  function control(body) {
    const bar = body.indexOf("|");
    const target = bar < 0 ? body : body.slice(0, bar);
    const label = bar < 0 ? null : unescape(body.slice(bar + 1));
    if (target.startsWith("@")) return h("span", { class: "mention" }, "@" + (label || personName(target.slice(1))));
    if (target.startsWith("#")) {
      const id = target.slice(1);
      const ch = state && state.channels.find((c) => c.id === id);
      return h("a", { class: "mention", href: "#", onclick: (e) => { e.preventDefault(); openChannel(id); } }, "#" + (label || (ch ? ch.name : id)));
    }
    if (target.startsWith("!date^")) {
      const [, seconds, format] = target.split("^");
      return Number(seconds) ? slackDate(Number(seconds), format || "{date_short_pretty}") : label || "";
    }
    if (target.startsWith("!")) {
      const special = target.slice(1).split("^")[0];
      return h("span", { class: "mention" }, ["here", "channel", "everyone"].includes(special) ? "@" + special : label || "");
    }
    const url = unescape(target);
    const thread = /^https:\/\/fake\.slack\.com\/archives\/(\w+)\/p(\d+)(?:\?thread_ts=([\d.]+))?/.exec(url);
    if (thread) {
      const [, cid, p, parent] = thread;
      const ts = parent || `${p.slice(0, -6)}.${p.slice(-6)}`;
      return h("a", { href: "#", onclick: (e) => { e.preventDefault(); openChannel(cid); openThread(ts); } }, label || url);
    }
    if (/^(https?:|mailto:)/i.test(url)) return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label || url);
    return label || url;
  }

  function mrkdwn(text) {
    const out = [];
    const parts = String(text || "").split(/```/);
    parts.forEach((part, i) => {
      if (i % 2 === 1 && i < parts.length - 1) out.push(h("pre", {}, unescape(part.replace(/^\n/, ""))));
      else {
        const lines = (i % 2 === 1 ? "```" + part : part).split("\n");
        let buffer = [];
        const flush = () => { if (buffer.length) { out.push(h("span", {}, inline(buffer.join("\n")))); buffer = []; } };
        for (const line of lines) {
          if (line.startsWith("&gt; ") || line === "&gt;") {
            flush();
            out.push(h("blockquote", {}, inline(line.slice(5))));
          } else buffer.push(line);
        }
        flush();
      }
    });
    return out;
  }

  function textObject(obj) {
    if (!obj) return "";
    return obj.type === "mrkdwn" ? mrkdwn(obj.text) : plainEmoji(obj.text);
  }

  function plainEmoji(text) {
    // plain_text is not parsed, except that Slack turns :emoji: codes into pictures.
    const out = [];
    let rest = String(text || "");
    const pattern = /:([a-z0-9_+-]+):/;
    for (let m = pattern.exec(rest); m; m = pattern.exec(rest)) {
      out.push(rest.slice(0, m.index));
      out.push(EMOJI[m[1]] ? h("span", { class: "emoji" }, EMOJI[m[1]]) : m[0]);
      rest = rest.slice(m.index + m[0].length);
    }
    out.push(rest);
    return out;
  }

  // -- Block Kit --------------------------------------------------------------------------------

  function renderBlocks(blocks, ctx) {
    return (blocks || []).map((block) => renderBlock(block, ctx));
  }

  function renderBlock(block, ctx) {
    const attrs = { "data-block-id": block.block_id || null };
    switch (block.type) {
      case "header":
        return h("div", { class: "bk-header", ...attrs }, plainEmoji(block.text && block.text.text));
      case "divider":
        return h("hr", { class: "bk-divider" });
      case "context":
        return h("div", { class: "bk-context", ...attrs }, (block.elements || []).map((el) =>
          el.type === "image" ? h("span", { class: "bk-image-alt" }, el.alt_text || "") : h("span", {}, textObject(el))));
      case "section":
        return h("div", { class: "bk-section", ...attrs },
          h("div", { class: "bk-section-body" },
            block.text ? h("div", { class: "bk-text" }, textObject(block.text)) : null,
            block.fields ? h("div", { class: "bk-fields" }, block.fields.map((f) => h("div", {}, textObject(f)))) : null),
          block.accessory ? h("div", { class: "bk-accessory" }, renderElement(block.accessory, block, ctx)) : null);
      case "actions":
        return h("div", { class: "bk-actions", ...attrs }, (block.elements || []).map((el) => renderElement(el, block, ctx)));
      case "input":
        return renderInput(block, ctx);
      case "image":
        return h("div", { class: "bk-context" }, `[image: ${block.alt_text || ""}]`);
      case "rich_text":
        return h("div", { class: "bk-text" }, mrkdwn(richText(block)));
      default:
        return h("div", { class: "bk-unknown" }, `(a ${block.type} block the playground does not draw)`);
    }
  }

  function richText(block) {
    const pieces = [];
    const walk = (node) => {
      if (!node) return;
      if (typeof node.text === "string") pieces.push(node.text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"));
      (node.elements || []).forEach(walk);
    };
    walk(block);
    return pieces.join("");
  }

  function renderElement(el, block, ctx) {
    if (el.type === "button") {
      const style = el.style ? ` ${el.style}` : "";
      return h("button", {
        class: "bk-button" + style,
        "data-action-id": el.action_id,
        disabled: !ctx.interactive,
        onclick: async (event) => {
          const button = event.currentTarget;
          if (el.url) window.open(el.url, "_blank", "noopener");
          if (el.confirm && !(await confirmDialog(el.confirm))) return;
          button.disabled = true;
          const action = { type: "button", action_id: el.action_id, block_id: block.block_id, text: el.text };
          if (el.value !== undefined) action.value = el.value;
          if (el.style) action.style = el.style;
          await act(ctx, action);
          button.disabled = false;
        },
      }, plainEmoji(el.text && el.text.text));
    }
    if (el.type === "checkboxes") {
      const chosen = new Set((el.initial_options || []).map((o) => o.value));
      const group = h("div", { class: "bk-checkboxes", "data-action-id": el.action_id });
      for (const option of el.options || []) {
        const box = h("input", {
          type: "checkbox",
          value: option.value,
          checked: chosen.has(option.value),
          disabled: !ctx.interactive,
          onchange: async () => {
            const selected = (el.options || []).filter((o) =>
              group.querySelector(`input[value="${CSS.escape(o.value)}"]`).checked);
            group.querySelectorAll("input").forEach((i) => { i.disabled = true; });
            await act(ctx, { type: "checkboxes", action_id: el.action_id, block_id: block.block_id, selected_options: selected });
          },
        });
        group.append(h("label", { class: "bk-option" }, box, h("span", {}, textObject(option.text)),
          option.description ? h("span", { class: "bk-option-description" }, textObject(option.description)) : null));
      }
      return group;
    }
    if (el.type === "static_select" && !ctx.modal) {
      const select = h("select", { class: "bk-select", disabled: !ctx.interactive,
        onchange: () => {
          const option = (el.options || []).find((o) => o.value === select.value);
          act(ctx, { type: "static_select", action_id: el.action_id, block_id: block.block_id, selected_option: option });
        } },
      h("option", { value: "" }, el.placeholder ? el.placeholder.text : "Select…"),
      (el.options || []).map((o) => h("option", { value: o.value }, o.text.text)));
      return select;
    }
    return h("span", { class: "bk-unknown" }, `(${el.type})`);
  }

  function renderInput(block, ctx) {
    const el = block.element || {};
    const id = `input-${block.block_id}`;
    let control;
    if (el.type === "plain_text_input") {
      const props = { id, name: block.block_id, placeholder: el.placeholder ? el.placeholder.text : null,
        maxlength: el.max_length || null, minlength: el.min_length || null };
      control = el.multiline ? h("textarea", { ...props, rows: 4 }) : h("input", { ...props, type: "text" });
      control.value = el.initial_value || "";
    } else if (el.type === "static_select") {
      control = h("select", { id, name: block.block_id },
        h("option", { value: "" }, el.placeholder ? el.placeholder.text : "Select an item"),
        (el.options || []).map((o) => h("option", { value: o.value }, o.text.text)));
      if (el.initial_option) control.value = el.initial_option.value;
    } else if (el.type === "datepicker") {
      control = h("input", { id, name: block.block_id, type: "date" });
      control.value = el.initial_date || "";
    } else {
      control = h("span", { class: "bk-unknown" }, `(${el.type} input)`);
    }
    const error = ctx.errors && ctx.errors[block.block_id];
    return h("div", { class: "bk-input" + (error ? " has-error" : ""), "data-block-id": block.block_id },
      h("label", { for: id }, plainEmoji(block.label && block.label.text), block.optional ? h("span", { class: "optional" }, " (optional)") : null),
      control,
      block.hint ? h("div", { class: "bk-hint" }, plainEmoji(block.hint.text)) : null,
      error ? h("div", { class: "bk-error", role: "alert" }, error) : null);
  }

  async function act(ctx, action) {
    await post("action", { channel: ctx.channel, message_ts: ctx.ts, ephemeral_id: ctx.ephemeralId, action });
  }

  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const layer = $("confirm-layer");
      const done = (answer) => { layer.hidden = true; layer.replaceChildren(); resolve(answer); };
      fill(layer, h("div", { class: "dialog confirm", role: "dialog" },
        h("h2", {}, plainEmoji(confirm.title ? confirm.title.text : "Are you sure?")),
        h("div", { class: "dialog-body" }, textObject(confirm.text)),
        h("div", { class: "dialog-buttons" },
          h("button", { class: "secondary", onclick: () => done(false) }, confirm.deny ? confirm.deny.text : "Cancel"),
          h("button", { class: "primary" + (confirm.style === "danger" ? " danger" : ""), onclick: () => done(true) },
            confirm.confirm ? confirm.confirm.text : "Yes"))));
      layer.hidden = false;
    });
  }

  // -- messages ---------------------------------------------------------------------------------

  function timeOf(ts) {
    return clockTime(new Date(Number(ts) * 1000));
  }

  function renderMessage(message, { inThread = false, channel }) {
    const ctx = { channel, ts: message.ts, interactive: true };
    const content = message.blocks && message.blocks.length ? renderBlocks(message.blocks, ctx) : h("div", { class: "bk-text" }, mrkdwn(message.text));
    const isBot = state && message.user === state.bot.id;
    const replies = !inThread && message.reply_count
      ? h("button", { class: "replies", onclick: () => openThread(message.ts) },
        `${message.reply_count} ${message.reply_count === 1 ? "reply" : "replies"}`,
        h("span", { class: "replies-last" }, message.latest_reply ? ` Last reply ${prettyDate(new Date(Number(message.latest_reply) * 1000))} at ${timeOf(message.latest_reply)}` : ""))
      : null;
    return h("div", { class: "message", "data-ts": message.ts },
      avatar(message.user),
      h("div", { class: "message-body" },
        h("div", { class: "message-meta" },
          h("span", { class: "author" }, personName(message.user)),
          isBot ? h("span", { class: "app-badge" }, "APP") : null,
          h("span", { class: "time" }, timeOf(message.ts)),
          message.edited ? h("span", { class: "edited" }, "(edited)") : null),
        h("div", { class: "message-content" }, content),
        renderFiles(message.files),
        replies));
  }

  function renderFiles(files) {
    if (!files || !files.length) return null;
    return h("div", { class: "files" }, files.map((file) =>
      h("div", { class: "file", "data-file-id": file.id || null },
        h("div", { class: "file-icon" }, (file.filetype || file.name || "file").split(".").pop().slice(0, 4).toUpperCase()),
        h("div", {},
          // Opens the file's contents, which the playground serves as plain text only.
          file.id
            ? h("a", { class: "file-name", href: `/files/${encodeURIComponent(file.id)}`, target: "_blank", rel: "noopener" },
              file.title || file.name || "file")
            : h("div", { class: "file-name" }, file.title || file.name || "file"),
          h("div", { class: "file-meta" }, [file.name, file.size ? `${Math.max(1, Math.round(file.size / 1024))} kB` : null].filter(Boolean).join(" · "))),
        file.preview ? h("pre", { class: "file-preview" }, file.preview) : null)));
  }

  function renderEphemeral(e) {
    const ctx = { channel: e.channel, ts: e.ts, ephemeralId: e.id, interactive: true };
    const content = e.blocks && e.blocks.length ? renderBlocks(e.blocks, ctx) : h("div", { class: "bk-text" }, mrkdwn(e.text));
    return h("div", { class: "message ephemeral", "data-ephemeral-id": e.id },
      avatar(state.bot.id),
      h("div", { class: "message-body" },
        h("div", { class: "message-meta" },
          h("span", { class: "author" }, state.bot.name),
          h("span", { class: "app-badge" }, "APP"),
          h("span", { class: "time" }, timeOf(e.ts))),
        h("div", { class: "message-content" }, content),
        h("div", { class: "ephemeral-note" }, "👁 Only visible to you · ",
          h("button", { class: "link", onclick: () => post("dismiss", { id: e.id }) }, "Dismiss"))));
  }

  const byTs = (a, b) => Number(a.ts) - Number(b.ts);

  function keepScroll(container, draw) {
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
    const top = container.scrollTop;
    draw();
    container.scrollTop = atBottom ? container.scrollHeight : top;
  }

  // -- the page ---------------------------------------------------------------------------------

  function currentChannel() {
    return state.channels.find((c) => c.id === channelId) || state.channels[0];
  }

  function render() {
    if (!state) return;
    renderSidebar();
    if (showHome) renderHome();
    else renderChannel();
    renderThread();
    renderModal();
  }

  function renderSidebar() {
    const select = $("person");
    if (select.options.length !== state.people.length) {
      select.replaceChildren(...state.people.map((p) => h("option", { value: p.id }, `${p.name} · ${p.title}`)));
    }
    select.value = me;
    fill($("channel-list"), ...state.channels.map((c) =>
      h("button", { class: "nav-item" + (!showHome && c.id === channelId ? " active" : ""), "data-channel": c.name,
        onclick: () => openChannel(c.id) }, h("span", { class: "hash", title: c.private ? "private channel" : null },
          c.private ? "🔒" : "#"), c.name)));
    $("home-link").classList.toggle("active", showHome);
    const now = new Date(state.now);
    fill($("clock-now"), 
      h("div", { class: "clock-day" }, `${DAYS[now.getUTCDay()]} ${now.getUTCDate()} ${MONTHS[now.getUTCMonth()]} ${now.getUTCFullYear()}`),
      h("div", { class: "clock-time" }, `${clockTime(now)} UTC`),
      state.moved ? h("div", { class: "clock-moved" }, "moved ahead of the wall clock") : null);
  }

  function renderChannel() {
    const channel = currentChannel();
    channelId = channel.id;
    $("composer").hidden = false;
    $("composer-input").placeholder = `Message #${channel.name}`;
    fill($("channel-header"), 
      h("div", { class: "channel-title" }, h("span", { class: "hash" }, channel.private ? "🔒" : "#"), channel.name),
      h("div", { class: "channel-topic" }, channel.topic));
    const top = channel.messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
    const ephemerals = state.ephemerals.filter((e) => e.channel === channel.id && !e.thread_ts);
    const items = [...top.map((m) => ({ ts: m.ts, node: () => renderMessage(m, { channel: channel.id }) })),
      ...ephemerals.map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) }))].sort(byTs);
    keepScroll($("messages"), () => {
      fill($("messages"), ...(items.length ? items.map((item) => item.node()) : [
        h("div", { class: "empty" },
          h("div", { class: "empty-title" }, `This is the very beginning of #${channel.name}.`),
          h("div", {}, "Type ", h("code", {}, "/distill start Support-ticket router"), " below to start a distillation project here."))]));
    });
  }

  function renderHome() {
    $("composer").hidden = true;
    fill($("channel-header"), 
      h("div", { class: "channel-title" }, h("span", { class: "app-dot" }, "D"), state.bot.name),
      h("div", { class: "channel-topic" }, "Home"));
    const home = state.home;
    fill($("messages"), home
      ? h("div", { class: "home" }, renderBlocks(home.blocks, { channel: null, ts: null, interactive: false }))
      : h("div", { class: "empty" }, "Opening the Home tab… (a bot that publishes no Home tab leaves this empty)"));
  }

  function renderThread() {
    const pane = $("thread");
    const channel = currentChannel();
    const parent = threadTs && channel.messages.find((m) => m.ts === threadTs);
    if (!parent || showHome) {
      pane.hidden = true;
      return;
    }
    pane.hidden = false;
    $("thread-channel").textContent = `#${channel.name}`;
    const replies = channel.messages.filter((m) => m.thread_ts === threadTs && m.ts !== threadTs);
    const ephemerals = state.ephemerals.filter((e) => e.channel === channel.id && e.thread_ts === threadTs);
    const items = [...replies.map((m) => ({ ts: m.ts, node: () => renderMessage(m, { inThread: true, channel: channel.id }) })),
      ...ephemerals.map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) }))].sort(byTs);
    const list = $("thread-messages");
    const opened = list.dataset.thread !== threadTs;
    list.dataset.thread = threadTs;
    keepScroll(list, () => {
      fill($("thread-messages"), 
        renderMessage(parent, { inThread: true, channel: channel.id }),
        h("div", { class: "reply-count" }, `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`),
        ...items.map((item) => item.node()));
    });
    if (opened) list.scrollTop = list.scrollHeight;  // a thread opens at its newest reply, as in Slack
  }

  function modalValues() {
    const values = {};
    $("modal-layer").querySelectorAll("[name]").forEach((el) => { values[el.name] = el.value; });
    return values;
  }

  function renderModal() {
    const layer = $("modal-layer");
    const modal = state.modal;
    const key = modal ? JSON.stringify([modal.view.id, modal.view.hash, modal.errors]) : null;
    if (key === modalKey) return;
    const sameView = modal && modalKey && JSON.parse(modalKey)[0] === modal.view.id && JSON.parse(modalKey)[1] === modal.view.hash;
    const typed = sameView ? modalValues() : {};
    modalKey = key;
    if (!modal) {
      layer.hidden = true;
      layer.replaceChildren();
      return;
    }
    const view = modal.view;
    const ctx = { modal: true, errors: modal.errors, interactive: false };
    const form = h("form", { class: "dialog modal", role: "dialog", "aria-label": view.title ? view.title.text : "Form",
      onsubmit: (event) => { event.preventDefault(); submitModal(view); } },
    h("header", {}, h("h2", {}, plainEmoji(view.title && view.title.text)),
      h("button", { type: "button", class: "close", "aria-label": "Close", onclick: () => post("close", { view_id: view.id }) }, "×")),
    h("div", { class: "dialog-body" }, renderBlocks(view.blocks, ctx)),
    h("div", { class: "dialog-buttons" },
      h("button", { type: "button", class: "secondary", onclick: () => post("close", { view_id: view.id }) }, view.close ? view.close.text : "Cancel"),
      view.submit ? h("button", { type: "submit", class: "primary" }, view.submit.text) : null));
    layer.replaceChildren(form);
    for (const [name, value] of Object.entries(typed)) {
      const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (el) el.value = value;
    }
    layer.hidden = false;
    const firstError = form.querySelector(".has-error [name]");
    (firstError || form.querySelector("[name]"))?.focus();
  }

  async function submitModal(view) {
    const values = modalValues();
    // Slack's client refuses an empty required field itself, before anything reaches the app.
    const missing = (view.blocks || []).filter((b) => b.type === "input" && !b.optional && !(values[b.block_id] || "").trim());
    if (missing.length) {
      const errors = Object.fromEntries(missing.map((b) => [b.block_id, "Please complete this required field."]));
      modalKey = null;
      state.modal.errors = errors;
      renderModal();
      return;
    }
    const button = $("modal-layer").querySelector("button[type=submit]");
    if (button) button.disabled = true;
    await post("submit", { view_id: view.id, values });
    if (button) button.disabled = false;
  }

  function openChannel(id) {
    if (id !== channelId) threadTs = null;
    channelId = id;
    showHome = false;
    store.setItem("distill.channel", id);
    render();
  }

  function openThread(ts) {
    threadTs = ts;
    render();
  }

  // -- live updates -----------------------------------------------------------------------------

  async function poll() {
    for (;;) {
      const mine = generation;
      controller = new AbortController();
      try {
        const since = revision === null ? "" : `&since=${revision}`;
        const response = await fetch(`/api/state?user=${encodeURIComponent(me)}${since}`, { signal: controller.signal });
        if (!response.ok) throw new Error(`state ${response.status}`);
        const next = await response.json();
        if (mine !== generation) continue;
        state = next;
        revision = next.revision;
        document.body.dataset.revision = String(revision);
        render();
      } catch (error) {
        if (mine !== generation) continue;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  function refreshNow() {
    generation += 1;
    revision = null;
    modalKey = null;
    if (controller) controller.abort();
  }

  // -- wiring -----------------------------------------------------------------------------------

  $("person").addEventListener("change", (event) => {
    me = event.target.value;
    store.setItem("distill.me", me);
    refreshNow();
    if (showHome) post("home", {});
  });
  $("home-link").addEventListener("click", () => {
    showHome = true;
    render();
    post("home", {});
  });
  $("thread-close").addEventListener("click", () => openThread(null));
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("composer-input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    await post("command", { channel: channelId, text });
  });
  document.querySelectorAll("#clock button").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      await post("clock", { hours: Number(button.dataset.hours) });
      button.disabled = false;
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state && state.modal) post("close", { view_id: state.modal.view.id });
  });

  poll();
})();
