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
  // "Show password": the checkbox after a password field turns it to text and back.
  document.querySelectorAll("input[data-show-password]").forEach((box) => {
    const form = box.closest("form");
    box.addEventListener("change", () => {
      form.querySelectorAll("input[type=password], input[data-was-password]").forEach((input) => {
        input.dataset.wasPassword = "1";
        input.type = box.checked ? "text" : "password";
      });
    });
  });
  // The strength meter, live as the user types (the server's estimate, the same as after a submit).
  document.querySelectorAll("input[data-strength]").forEach((input) => {
    const box = document.getElementById(input.dataset.strength);
    const meter = box.querySelector("meter");
    const label = box.querySelector(".strength-label");
    let timer = null;
    let asked = 0;
    const ask = async () => {
      const mine = ++asked;
      if (!input.value) { box.dataset.empty = "1"; meter.value = 0; label.textContent = ""; return; }
      try {
        const answer = await fetch("/api/v1/password/strength", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            password: input.value,
            email: input.dataset.email || "",
            names: (input.dataset.names || "").split("\n").filter(Boolean),
            birth_date: input.dataset.birthDate || null,
          }),
        });
        if (!answer.ok || mine !== asked) return;
        const strength = await answer.json();
        delete box.dataset.empty;
        meter.value = strength.score;
        label.textContent = box.dataset.format.replace("%(label)s", strength.text);
      } catch (e) { /* the meter is a help, not a gate */ }
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 200); });
  });
});
