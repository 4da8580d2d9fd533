namespace Tally.Server.Dashboard;

/// <summary>
/// The dashboard's one style sheet. The layout is one column up to 1,200 px wide; below 640 px tables turn into one
/// card per row (each cell labelled by its column), so nothing needs horizontal scrolling on a 390 px phone.
/// </summary>
internal static class Style
{
    /// <summary>The CSS served at <c>/ui/style.css</c>.</summary>
    public const string Css = """
        *, *::before, *::after { box-sizing: border-box; }
        html { -webkit-text-size-adjust: 100%; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; background: #f8fafc; }
        a { color: #1d4ed8; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .6rem 1rem; background: #1e3a8a; color: #fff; }
        header.top a.brand { color: #fff; font-weight: 700; font-size: 1.15rem; text-decoration: none; margin-right: auto; }
        header.top .who { overflow-wrap: anywhere; }
        header.top button { background: #fff; color: #1e3a8a; border: 0; }
        main { max-width: 1200px; margin: 0 auto; padding: .5rem 1rem 3rem; }
        h1 { font-size: 1.5rem; margin: 1rem 0 .75rem; overflow-wrap: anywhere; }
        h2 { font-size: 1.2rem; margin: 1.75rem 0 .5rem; }
        nav.project ul { display: flex; flex-wrap: wrap; gap: .25rem .5rem; list-style: none; margin: .75rem 0 0; padding: 0; }
        nav.project a { display: inline-block; padding: .3rem .7rem; border-radius: 999px; background: #e0e7ff; text-decoration: none; }
        nav.project a[aria-current="page"] { background: #1e3a8a; color: #fff; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: .75rem; margin: 0 0 1rem; }
        .cards div { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: .6rem .8rem; }
        .cards dt { color: #4b5563; font-size: .85rem; }
        .cards dd { margin: 0; font-size: 1.25rem; font-weight: 600; overflow-wrap: anywhere; }
        .grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); gap: 1rem; margin: 1rem 0; }
        figure.chart { margin: 0; background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: .5rem; }
        figure.chart svg { display: block; width: 100%; height: auto; }
        figure.heat svg { max-width: 26rem; margin: 0 auto; }
        dl.spec dt { font-weight: 600; margin-top: .4rem; }
        dl.spec dd { margin-left: 1rem; }
        figcaption { font-size: .85rem; color: #4b5563; text-align: center; }
        ul.legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; padding: 0; font-size: .85rem; }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #e5e7eb; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; overflow-wrap: anywhere; }
        th { background: #f1f5f9; font-weight: 600; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        progress { width: 100%; max-width: 14rem; height: .8rem; vertical-align: middle; }
        form.stack { display: grid; gap: .75rem; max-width: 36rem; background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 1rem; }
        form.stack label { display: grid; gap: .2rem; font-weight: 600; }
        form.stack .hint { font-weight: 400; color: #4b5563; font-size: .85rem; }
        form.filters { display: flex; flex-wrap: wrap; align-items: end; gap: .5rem 1rem; margin: .5rem 0 1rem; }
        form.filters label { display: grid; gap: .2rem; font-size: .9rem; }
        form.inline { display: inline; margin: 0; }
        input, select, textarea, button { font: inherit; max-width: 100%; }
        input[type=text], input[type=password], input[type=number], select, textarea { width: 100%; padding: .4rem .5rem; border: 1px solid #9ca3af; border-radius: 6px; background: #fff; }
        form.filters input, form.filters select { width: auto; }
        textarea { min-height: 8rem; font-family: ui-monospace, monospace; }
        button, a.button { display: inline-block; padding: .4rem .9rem; border-radius: 6px; border: 1px solid #1e3a8a; background: #1e3a8a; color: #fff; cursor: pointer; text-decoration: none; }
        button.danger, a.button.danger { background: #b91c1c; border-color: #b91c1c; }
        a.button.secondary { background: #fff; color: #1e3a8a; }
        .error { background: #fef2f2; border: 1px solid #fecaca; color: #991b1b; padding: .6rem .8rem; border-radius: 6px; overflow-wrap: anywhere; }
        .ok { background: #f0fdf4; border: 1px solid #bbf7d0; padding: .6rem .8rem; border-radius: 6px; overflow-wrap: anywhere; }
        .note { color: #4b5563; font-size: .9rem; }
        .flag { color: #b91c1c; font-weight: 600; }
        .partly { color: #92400e; }
        code, .key { font-family: ui-monospace, monospace; overflow-wrap: anywhere; word-break: break-all; }
        .pager { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: .75rem 0; }
        details summary { cursor: pointer; }
        details ul { margin: .25rem 0 0; padding-left: 1.1rem; }
        @media (max-width: 640px) {
          main { padding: .25rem .6rem 2rem; }
          table, thead, tbody, tr, th, td { display: block; }
          table { border: 0; background: none; }
          caption { display: block; text-align: left; margin-bottom: .4rem; }
          thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
          tr { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; margin-bottom: .6rem; padding: .3rem .5rem; }
          td { border: 0; padding: .15rem 0; display: grid; grid-template-columns: 42% 1fr; gap: .5rem; text-align: left; }
          td.num { text-align: left; }
          td::before { content: attr(data-label); font-weight: 600; color: #4b5563; }
        }
        """;
}
