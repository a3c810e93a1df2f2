//! The table printed without `--json`.

use serde_json::{json, Value};

pub(crate) fn ratio(a: &Value, b: &Value) -> Value {
    match (a["total_mib"].as_f64(), b["total_mib"].as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

pub(crate) fn table(r: &Value) -> String {
    let mut out = String::new();
    let m = |k: &str| {
        r[k].as_f64()
            .map(|x| format!("{x:.0}"))
            .unwrap_or("-".into())
    };
    let x = |k: &str| {
        r["ratios"][k]
            .as_f64()
            .map(|x| format!("{x:.2}×"))
            .unwrap_or("-".into())
    };
    out += &format!(
        "desktop app benchmark ({}; load before {}, after {})\n\n",
        r["mode"].as_str().unwrap_or(""),
        r["load_before"].as_str().unwrap_or(""),
        r["load_after"].as_str().unwrap_or("")
    );
    if r["tools"] == json!(true) {
        out += "with --tools: danmaku on and the live dashboard open in every room\n\n";
    }
    if r["foreign_webkit_processes"].as_u64().unwrap_or(0) > 0 {
        out += &format!("WARNING: {} WebKit processes of other programs ran meanwhile: memory figures too low\n\n", r["foreign_webkit_processes"]);
    }
    out += "| memory (PSS, all processes) | MiB | × bare idle | target |\n|---|---:|---:|---|\n";
    out += &format!(
        "| bare window, idle | {} | 1.00× | |\n",
        m("bare_idle_pss_mib")
    );
    out += &format!(
        "| bare window, idle, compositing off | {} | {} | |\n",
        m("bare_nocompositing_idle_pss_mib"),
        x("bare_nocompositing")
    );
    out += &format!(
        "| bare window, idle, under WebDriver | {} | {} | |\n",
        m("bare_driver_idle_pss_mib"),
        x("bare_driver")
    );
    out += &format!(
        "| ours, idle on the start screen | {} | {} | ≤ 1.15× |\n",
        m("idle_pss_mib"),
        x("idle")
    );
    out += &format!(
        "| ours, idle, under WebDriver | {} | {} | |\n",
        m("idle_driver_pss_mib"),
        x("idle_driver")
    );
    out += &format!(
        "| ours, logged in, one room (WebDriver) | {} | {} | ≤ 1.3× |\n",
        m("room_pss_mib"),
        x("room")
    );
    out += &format!(
        "| ours, after the 40 msg/s run (WebDriver) | {} | {} | |\n",
        m("after_40_pss_mib"),
        x("after_40")
    );
    out += &format!(
        "| ours, after 10,000 messages (WebDriver) | {} | {} | ≤ 1.4× |\n",
        m("after_flood_pss_mib"),
        x("after_flood")
    );
    out += &format!(
        "| ours, the same 30 s later | {} | {} | |\n",
        m("after_flood_30s_pss_mib"),
        x("after_flood_30s")
    );
    out += &format!(
        "| ours, 5 rooms side by side after 5×40/s (WebDriver) | {} | {} | |\n\n",
        m("side_by_side_pss_mib"),
        x("side_by_side")
    );
    out += &format!(
        "CPU (% of a core) left alone: bare window {}, ours on the start screen {}, ours with one quiet room {}\n\n",
        r["bare_idle_cpu_pct"], r["idle_cpu_pct"], r["room_idle_cpu_pct"]
    );
    out += "| rate (msg/s) | rooms | sent/s | frame p50 | frame p95 | frame target | input p50 | input p95 | input target | keys | app CPU | checks |\n|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|\n";
    for run in r["rates"].as_array().into_iter().flatten() {
        let f = |k: &str| {
            run[k]
                .as_f64()
                .map(|x| format!("{x:.1}"))
                .unwrap_or("-".into())
        };
        let target = match run["rate"].as_u64() {
            Some(40) => "≤ 20 ms",
            Some(200) => "≤ 33 ms",
            _ => "≤ 50 ms",
        };
        let ok = run["send_errors"] == json!(0)
            && run["typed_ok"] == json!(true)
            && run["typed_delivered"] == json!(true)
            && run["follows_newest"] == json!(true);
        out += &format!(
            "| {} | {} | {} | {} | {} | {target} | {} | {} | ≤ 50 ms | {} | {}% | {} |\n",
            run["rate"],
            run["rooms"],
            run["sent_per_s"],
            f("frame_p50_ms"),
            f("frame_p95_ms"),
            f("input_p50_ms"),
            f("input_p95_ms"),
            run["keys"],
            run["app_cpu_pct"],
            if ok { "ok" } else { "FAILED" }
        );
    }
    if r["tools"] == json!(true) {
        out += "\ntools (counted since they were turned on, every room summed):\n";
        out += "| rate (msg/s) | danmaku offered | flown | dropped | most in a layer | dashboard drawings |\n|---:|---:|---:|---:|---:|---:|\n";
        for run in r["rates"].as_array().into_iter().flatten() {
            let t = &run["tools"];
            out += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                run["rate"],
                t["danmaku_offered"],
                t["danmaku_shown"],
                t["danmaku_dropped"],
                t["danmaku_max_nodes"],
                t["dashboard_draws"]
            );
        }
    }
    let c = &r["cold_start"];
    let n = |v: &Value| v.as_f64().map(|x| format!("{x:.0}")).unwrap_or("-".into());
    out += "\n| start (ms) | ours | bare window | target |\n|---|---:|---:|---|\n";
    out += &format!(
        "| process start → page starts loading | {} | {} | |\n",
        n(&c["process_to_page_ms"]),
        n(&r["bare_start"]["process_to_page_ms"])
    );
    out += &format!(
        "| process start → first frame / bare page loaded | {} | {} | |\n",
        n(&c["first_frame_ms"]),
        n(&r["bare_start"]["process_to_loaded_ms"])
    );
    out += &format!(
        "| cold start → start screen drawn | {} | | ≤ 1500 |\n",
        n(&c["start_screen_ms"])
    );
    out += &format!(
        "| cold start → embedded server's address shown | {} | | |\n",
        n(&c["embedded_ready_ms"])
    );
    out += &format!(
        "| \"Start\" clicked → main screen drawn | {} | | ≤ 1000 |\n",
        n(&r["start_to_main_ms"])
    );
    out += &format!(
        "| \"Create\" clicked → room drawn | {} | | ≤ 1000 |\n",
        n(&r["room_open_ms"])
    );
    out += "\nprocesses (PSS MiB, of which anonymous: heaps, JS, DOM):\n";
    for (label, key) in [
        ("bare idle", "bare_idle"),
        ("ours idle", "idle"),
        ("one room", "room"),
        ("after flood", "after_flood"),
        ("30 s later", "after_flood_30s"),
    ] {
        let procs: Vec<String> = r["processes"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?");
                format!("{name} {} ({})", p["pss_mib"], p["anon_mib"])
            })
            .collect();
        out += &format!("  {label:<12} {}\n", procs.join(", "));
    }
    out
}
