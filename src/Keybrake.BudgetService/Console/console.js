// The console's live view: every element with data-live (and an id) is refreshed in place from a fresh render of the
// same page, every data-refresh-ms milliseconds of the body (default 2000), while the tab is visible. No framework:
// the server renders the HTML, this only swaps it in. A session that has ended reloads the page (to sign-in).
(() => {
  'use strict';
  const regions = () => Array.from(document.querySelectorAll('[data-live][id]'));
  if (regions().length === 0) {
    return;
  }

  const every = Number(document.body.dataset.refreshMs) || 2000;

  async function refresh() {
    if (!document.hidden) {
      try {
        const response = await fetch(location.href, { credentials: 'same-origin', redirect: 'manual', cache: 'no-store' });
        if (response.type === 'opaqueredirect' || response.status === 401) {
          location.reload();
          return;
        }

        if (response.ok) {
          const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
          for (const region of regions()) {
            const next = fresh.getElementById(region.id);
            if (next && next.innerHTML !== region.innerHTML) {
              region.innerHTML = next.innerHTML;
            }
          }

          document.body.dataset.refreshedAt = String(Date.now());
        }
      } catch {
        // The service is restarting or the network dropped: try again on the next tick.
      }
    }

    setTimeout(refresh, every);
  }

  setTimeout(refresh, every);
})();
