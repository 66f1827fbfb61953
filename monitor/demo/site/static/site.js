document.querySelectorAll('.cookie-banner .accept').forEach(b => b.addEventListener('click', () => b.parentElement.remove()));
