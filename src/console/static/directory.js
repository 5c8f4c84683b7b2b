// The Directory tab's import (see src/console/directory/import.rs):
// * the upload form sends the chosen file as text/csv with the page's CSRF token, then opens
//   the import's page;
// * the import's page polls its progress and moves the <progress> bar until the import is
//   done, then shows the report.
'use strict';

(() => {
  const form = document.getElementById('import-form');
  if (form) {
    const input = form.querySelector('input[type="file"]');
    const error = document.getElementById('file-error');
    const show = (message) => {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const file = input.files && input.files[0];
      if (!file) { show('Choose a CSV file first.'); return; }
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      error.hidden = true;
      input.removeAttribute('aria-invalid');
      try {
        const resp = await fetch(form.action, {
          method: 'POST',
          credentials: 'same-origin',
          headers: {
            'Content-Type': 'text/csv',
            'X-CSRF-Token': form.querySelector('input[name="csrf"]').value,
            'X-File-Name': encodeURIComponent(file.name),
          },
          body: file,
        });
        const body = await resp.json().catch(() => ({}));
        if (resp.ok && body.job) { window.location.assign(body.job); return; }
        show((body.message || 'The file was not accepted.').replace(/^file: /, ''));
      } catch {
        show('The upload failed: check the connection and try again.');
      }
      button.disabled = false;
    });
  }

  const bar = document.getElementById('import-progress');
  if (bar && bar.dataset.progress) {
    const status = document.getElementById('import-status');
    const tick = async () => {
      try {
        const resp = await fetch(bar.dataset.progress, { credentials: 'same-origin' });
        if (resp.ok) {
          const p = await resp.json();
          bar.max = Math.max(p.total, 1);
          bar.value = p.done;
          bar.textContent = `${p.done} of ${p.total}`;
          if (status) status.textContent = `${p.done} of ${p.total} rows done.`;
          if (p.finished) { window.location.reload(); return; }
        }
      } catch { /* try again */ }
      setTimeout(tick, 200);
    };
    setTimeout(tick, 200);
  }
})();
