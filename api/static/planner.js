// The planner's small enhancements (docs/planner.md, "Optimistic toasts" and "Drag to reschedule").
// Progressive only: every action here is also a plain form or link that works without JavaScript.
(() => {
  "use strict";

  // --- Toasts: <div class="toast toast-<kind>" data-state="pending|ok|error"> in #toasts ----------------------
  const stateOf = (el) => (el.classList.contains("toast-error") ? "error" : "ok");

  // ok and info toasts go by themselves after DISMISS_MS (not while pointed at or focused); pending ones wait for
  // their answer, warnings and errors stay until dismissed. Every toast gets a dismiss button (×).
  const DISMISS_MS = 6000;
  const timers = new WeakMap(); // toast -> timeout id

  function dismissButton(t) {
    if (t.querySelector(":scope > .toast-close")) return;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "toast-close";
    b.setAttribute("aria-label", "Dismiss this message");
    b.textContent = "\u00d7"; // ×
    b.addEventListener("click", () => t.remove());
    t.append(b);
  }

  function arm(t) {
    clearTimeout(timers.get(t));
    timers.delete(t);
    dismissButton(t);
    if (!t.classList.contains("toast-ok") && !t.classList.contains("toast-info")) return;
    const later = () => {
      if (!t.isConnected) return;
      if (t.matches(":hover, :focus-within")) timers.set(t, setTimeout(later, DISMISS_MS));
      else t.remove();
    };
    timers.set(t, setTimeout(later, DISMISS_MS));
  }

  function toast(kind, state, words) {
    const t = document.createElement("div");
    t.className = `toast toast-${kind}`;
    t.dataset.state = state;
    t.textContent = words;
    document.getElementById("toasts")?.append(t);
    arm(t);
    return t;
  }

  function turn(t, kind, state, words) {
    t.className = `toast toast-${kind}`;
    t.dataset.state = state;
    t.textContent = words;
    arm(t);
  }

  // Toasts the server rendered (a flash, a page's own) and answers swapped in get their data-state, their dismiss
  // button and their timer too.
  function markToasts() {
    document.querySelectorAll("#toasts .toast:not([data-state])").forEach((t) => {
      t.dataset.state = stateOf(t);
      arm(t);
    });
  }

  // What to do again after a failure: the element's data-again, else press its button again.
  function again(elt) {
    if (elt?.dataset?.again) return elt.dataset.again;
    const button = elt?.matches?.("button") ? elt : elt?.querySelector?.("button");
    const label = button?.textContent?.trim();
    return label ? `press “${label}” again` : "try again";
  }

  function failureWords(evt) {
    const elt = evt.detail.elt;
    if (evt.type !== "htmx:responseError") {
      return `No answer from CheersAI: check your connection, then ${again(elt)}.`;
    }
    const xhr = evt.detail.xhr;
    const status = xhr.status;
    if (status === 401 || status === 403) {
      return `CheersAI refused that (error ${status}): your session may have ended. Reload the page, sign in if ` +
        `asked, then ${again(elt)}.`;
    }
    if (status >= 500) {
      const id = xhr.getResponseHeader("X-Request-ID");
      return `CheersAI hit a problem (error ${status}${id ? `, request id ${id}` : ""}), so it may not have ` +
        `happened: reload the page, then ${again(elt)}. If it keeps failing, quote the request id.`;
    }
    return `That did not go through (error ${status}): reload the page, then ${again(elt)}.`;
  }

  // --- Optimistic toasts: a request from inside [data-pending] shows that toast at once -------------------------
  const pending = new WeakMap(); // xhr -> {toast, replaced}

  document.addEventListener("htmx:beforeRequest", (evt) => {
    // The element itself or one around it; for a form, also the button that submitted it.
    const submitter = evt.detail.requestConfig?.triggeringEvent?.submitter;
    const words = (evt.detail.elt?.closest?.("[data-pending]") ?? submitter?.closest?.("[data-pending]"))?.dataset
      .pending;
    if (words) pending.set(evt.detail.xhr, { toast: toast("pending", "pending", words), replaced: false });
  });

  // The answer's toast takes the pending toast's place (same spot in the list, same element position).
  document.addEventListener("htmx:beforeSwap", (evt) => {
    const p = pending.get(evt.detail.xhr);
    if (p && !evt.detail.isError && evt.detail.target?.id === "toasts" && p.toast.isConnected) {
      evt.detail.target = p.toast;
      evt.detail.swapOverride = "outerHTML";
      p.replaced = true;
    }
  });

  document.addEventListener("htmx:afterSwap", markToasts);

  document.addEventListener("htmx:afterRequest", (evt) => {
    const p = pending.get(evt.detail.xhr);
    if (p && evt.detail.successful && !p.replaced) p.toast.remove(); // e.g. an HX-Redirect: the page moves on
  });

  function failed(evt) {
    const p = pending.get(evt.detail.xhr);
    pending.delete(evt.detail.xhr);
    const words = failureWords(evt);
    if (p) turn(p.toast, "error", "error", words);
    else toast("error", "error", words);
    unmove(evt.detail.elt, false);
  }
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:timeout", failed);

  // --- Drag to reschedule on the week -------------------------------------------------------------------------
  // Cards: [data-post-id][draggable=true] with data-day, data-hour ("19:00") and data-minute ("30").
  // Cells: [data-slot="2027-11-02T19:00"]. A drop posts when=<slot day and hour>:<card's minute> to the post's
  // time route; the card moves at once (data-state="moving"), then the week reloads on success or the card goes
  // back on a refusal or failure.
  const origins = new WeakMap(); // card -> {parent, next}
  let dragged = null;

  const grid = () => document.querySelector(".week-grid");
  const clearOver = () => document.querySelectorAll(".drop-over").forEach((c) => c.classList.remove("drop-over"));

  document.addEventListener("dragstart", (evt) => {
    const card = evt.target?.closest?.("[data-post-id][draggable='true']");
    if (!card || card.dataset.state === "moving") return;
    dragged = card;
    evt.dataTransfer.effectAllowed = "move";
    evt.dataTransfer.setData("text/plain", card.dataset.postId);
    grid()?.classList.add("is-dragging");
  });

  document.addEventListener("dragend", () => {
    dragged = null;
    grid()?.classList.remove("is-dragging");
    clearOver();
  });

  document.addEventListener("dragover", (evt) => {
    const cell = dragged && evt.target?.closest?.("[data-slot]");
    if (!cell) return;
    evt.preventDefault();
    evt.dataTransfer.dropEffect = "move";
    if (!cell.classList.contains("drop-over")) {
      clearOver();
      cell.classList.add("drop-over");
    }
  });

  document.addEventListener("drop", (evt) => {
    const cell = dragged && evt.target?.closest?.("[data-slot]");
    if (!cell) return;
    evt.preventDefault();
    move(dragged, cell);
  });

  function move(card, cell) {
    const slot = cell.dataset.slot;
    if (slot === `${card.dataset.day}T${card.dataset.hour}`) return; // dropped where it was
    origins.set(card, { parent: card.parentNode, next: card.nextSibling });
    cell.append(card);
    card.dataset.state = "moving";
    window.htmx.ajax("POST", `/planner/posts/${card.dataset.postId}/time`, {
      source: card,
      target: "#toasts",
      swap: "beforeend",
      values: { when: `${slot.slice(0, 14)}${card.dataset.minute}` },
    }).catch(() => {}); // a failure is told by the htmx:sendError / responseError toast and the card goes back
  }

  function unmove(card, keep) {
    const origin = card && origins.get(card);
    if (!origin) return;
    origins.delete(card);
    delete card.dataset.state;
    if (!keep && origin.parent.isConnected) origin.parent.insertBefore(card, origin.next);
  }

  // The time route answers with a toast and HX-Trigger cheers:outcome {kind}: an error kind is core's refusal.
  document.addEventListener("cheers:outcome", (evt) => {
    const card = evt.target;
    if (!(card instanceof Element) || !origins.has(card)) return;
    if (evt.detail?.kind === "error") {
      unmove(card, false);
      return;
    }
    unmove(card, true);
    // Redraw the week from the server: the card's new time, its row (perhaps a new one) and the counts.
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#week",
      select: "#week",
      swap: "outerHTML",
    }).catch(() => {});
  });

  document.addEventListener("DOMContentLoaded", markToasts);
})();
