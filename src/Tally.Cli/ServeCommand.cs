using System.CommandLine;
using Tally.Server;

namespace Tally.Cli;

/// <summary><c>tally serve</c>: the crowdsourcing back end.</summary>
internal static class ServeCommand
{
    public static Command Create(CliContext ctx)
    {
        var d = new ServerOptions();
        var data = new Option<string>("--data") { Description = "Data folder: tally.db (SQLite) and admin.key.", DefaultValueFactory = _ => d.DataDirectory };
        var db = new Option<string?>("--db") { Description = "PostgreSQL instead of SQLite: an Npgsql connection string (\"Host=…;Database=…;Username=…\"; default: SQLite in --data)." };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => d.Host };
        var port = new Option<int>("--port") { Description = "Port (0 = any free port; the one chosen is printed).", DefaultValueFactory = _ => d.Port };
        var failures = new Option<int>("--max-auth-failures") { Description = "Failed authentications per client address and minute before further failures get 429.", DefaultValueFactory = _ => d.AuthFailuresPerMinute };
        var cmd = new Command("serve", """
            Run the crowdsourcing service: projects, task assignment with dynamic overlap, answers (idempotent, acknowledged
            after commit), rounds that refine the labels and pay by peer prediction, reputations, data sharing.

            On first start it creates the admin key in DATA/admin.key (mode 0600). The HTTP API is described at
            /openapi.json; /healthz and /readyz for probes. Stop it with Ctrl+C.

            Examples:
              tally serve
              tally serve --port 9000 --data /var/lib/tally
              tally serve --db "Host=db.internal;Database=tally;Username=tally"
            """)
        { data, db, host, port, failures };
        cmd.SetAction(async (p, ct) =>
        {
            int chosen = p.GetValue(port);
            if (chosen is < 0 or > 65535) throw new UsageException($"--port must be in 0..65535 (got {chosen})");
            int maxFailures = p.GetValue(failures);
            if (maxFailures < 1) throw new UsageException($"--max-auth-failures must be at least 1 (got {maxFailures})");
            var options = d with { DataDirectory = p.GetValue(data)!, Postgres = p.GetValue(db), Host = p.GetValue(host)!, Port = chosen, AuthFailuresPerMinute = maxFailures };
            await ServerHost.RunAsync(options, ctx.Error, ct);
            return 0;
        });
        return cmd;
    }
}
