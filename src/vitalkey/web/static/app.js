// Progressive enhancement only: every page works without it.
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  // Show only the height fields of the chosen units.
  const radios = document.querySelectorAll("input[data-units]");
  const sync = () => {
    const chosen = document.querySelector("input[data-units]:checked");
    const imperial = chosen && chosen.value === "imperial";
    document.querySelectorAll(".units-imperial").forEach((el) => { el.hidden = !imperial; });
    document.querySelectorAll(".units-metric").forEach((el) => { el.hidden = imperial; });
  };
  radios.forEach((r) => r.addEventListener("change", sync));
  if (radios.length) sync();
  // Count down until a new code may be asked for.
  document.querySelectorAll("[data-countdown]").forEach((el) => {
    let left = parseInt(el.dataset.countdown, 10);
    const button = el.parentElement.querySelector("button[data-wait]");
    if (button) button.disabled = true;
    const tick = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(tick); el.remove(); if (button) button.disabled = false; return; }
      el.textContent = el.textContent.replace(/\d+/, String(left));
    }, 1000);
  });
});
