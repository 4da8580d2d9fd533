using System.Collections.Immutable;
using Tally.Mechanisms.Reputation;

namespace Tally.Tests;

/// <summary>TERM and the beta baseline on hand-computed evidence; Gompertz properties; ψ-ordering where Ω underflows.</summary>
public class TermReputationTests
{
    private static RoundEvidence Ev(int round, params ReportEvidence[] r) => new(round, [.. r]);

    [Fact]
    public void Term_matches_a_hand_computed_three_agent_two_round_example()
    {
        // Round 1: A matched, f = 1/2, t = 1 → φ = 2; B matched, f = 1, t = 2 → φ = 1/2; C mismatched → φ = 0.
        //   min 0, max 2: |φ| = 2(φ − 0)/2 − 1 → A = 1, B = −1/2, C = −1; ψ1 = |φ|.
        // Round 2: A mismatched → 0; B matched, f = 1/2, t = 1 → 2; C matched, f = 1, no time (t = 1) → 1.
        //   min 0, max 2: |φ| → A = −1, B = 1, C = 0.
        //   ψ2 = 0.9·ψ1 + |φ|2: A = 0.9 − 1 = −0.1, B = −0.45 + 1 = 0.55, C = −0.9 + 0 = −0.9.
        // Ω = exp(−exp(−ψ/2)): A = exp(−exp(0.05)), B = exp(−exp(−0.275)), C = exp(−exp(0.45)).
        var m = new TermReputation();
        m.Update(Ev(1, new ReportEvidence("A", true, 0.5, 1), new ReportEvidence("B", true, 1, 2), new ReportEvidence("C", false, 0.5, 1)));
        Assert.Equal(1, m.Psi("A"), 12);
        Assert.Equal(-0.5, m.Psi("B"), 12);
        Assert.Equal(-1, m.Psi("C"), 12);
        m.Update(Ev(2, new ReportEvidence("A", false, 0.5, 1), new ReportEvidence("B", true, 0.5, 1), new ReportEvidence("C", true, 1, null)));
        Assert.Equal(-0.1, m.Psi("A"), 12);
        Assert.Equal(0.55, m.Psi("B"), 12);
        Assert.Equal(-0.9, m.Psi("C"), 12);
        Assert.Equal(Math.Exp(-Math.Exp(0.05)), m.Score("A"), 12);
        Assert.Equal(Math.Exp(-Math.Exp(-0.275)), m.Score("B"), 12);
        Assert.Equal(Math.Exp(-Math.Exp(0.45)), m.Score("C"), 12);
        Assert.Equal(0, m.Psi("nobody"));
        Assert.Equal(Math.Exp(-1), m.Score("nobody"), 12);
    }

    [Fact]
    public void Skipped_rounds_still_discount_and_equal_scores_normalise_to_zero()
    {
        var m = new TermReputation();
        m.Update(Ev(1, new ReportEvidence("A", true, 0.5, 1), new ReportEvidence("B", false, 0.5, 1)));   // A = 1, B = −1
        m.Update(Ev(3, new ReportEvidence("B", true, 1, 1), new ReportEvidence("C", true, 1, 1)));         // equal φ → 0 each
        Assert.Equal(0.81, m.Psi("A"), 12);
        Assert.Equal(-0.81, m.Psi("B"), 12);
        Assert.Equal(0, m.Psi("C"), 12);
        Assert.Throws<ArgumentException>(() => m.Update(Ev(3)));
    }

    [Fact]
    public void Gompertz_is_increasing_and_inside_the_unit_interval()
    {
        var m = new TermReputation();
        double prev = double.NegativeInfinity;
        for (double psi = -12; psi <= 40; psi += 0.25)
        {
            double g = m.Gompertz(psi);
            Assert.True(g > 0 && g < 1, $"G({psi}) = {g}");
            Assert.True(g > prev, $"G not increasing at {psi}");
            prev = g;
        }
        Assert.Equal(Math.Exp(-1), m.Gompertz(0), 15);
    }

    [Fact]
    public void Psi_keys_keep_the_order_where_the_score_underflows()
    {
        // Agents that lose every round: ψ tends to −1/(1 − λ) = −10 with λ = 0.9; with λ = 1 it falls by 1 per round.
        var m = new TermReputation(new TermOptions { Lambda = 1 });
        for (int j = 1; j <= 40; j++)
        {
            var r = new List<ReportEvidence> { new("top", true, 0.5, 1), new("bad", false, 0.5, 1) };
            if (j > 10) r.Add(new("worse", false, 0.5, 1));   // joins late, so it has lost fewer rounds than "bad"
            m.Update(new RoundEvidence(j, [.. r]));
        }
        Assert.Equal(-40, m.Psi("bad"), 9);
        Assert.Equal(-30, m.Psi("worse"), 9);
        Assert.Equal(0, m.Score("bad"));      // Ω underflows to exactly 0 …
        Assert.Equal(0, m.Score("worse"));
        Assert.True(m.Key("worse") > m.Key("bad"));   // … but the key still ranks them
        Assert.True(m.Key("top") > m.Key("worse"));
        Assert.False(double.IsNaN(m.Score("bad")));
    }

    [Fact]
    public void Beta_baseline_is_the_posterior_mean()
    {
        var m = new BetaReputation();
        Assert.Equal(0.5, m.Score("x"));
        m.Update(Ev(1, new ReportEvidence("x", true, 1, null), new ReportEvidence("x", true, 1, null), new ReportEvidence("x", false, 1, null), new ReportEvidence("y", false, 1, null)));
        Assert.Equal(3.0 / 5, m.Score("x"), 15);
        Assert.Equal(1.0 / 3, m.Score("y"), 15);
        Assert.True(m.Key("x") > m.Key("y"));
    }

    [Fact]
    public void States_restore_identical_models()
    {
        var t = new TermReputation();
        t.Update(Ev(1, new ReportEvidence("A", true, 0.3, 7), new ReportEvidence("B", false, 0.5, 1)));
        var t2 = t.Save().Restore();
        Assert.Equal(t.Psi("A"), t2.Key("A"));
        Assert.Equal(t.LastRound, t2.LastRound);
        var b = new BetaReputation();
        b.Update(Ev(1, new ReportEvidence("A", true, 0.3, 7)));
        Assert.Equal(b.Score("A"), b.Save().Restore().Score("A"));
    }

    [Fact]
    public void Late_reports_are_ignored_and_counted()
    {
        var round = new Round(1, 2, 2,
        [
            new("a", 0, 0, 5), new("b", 0, 0, 50), new("c", 0, 1, 9),
            new("a", 1, 1, 5), new("b", 1, 1, null), new("c", 1, 1, 100),
        ], [10.0, null]);
        Assert.Equal(1, round.LateCount);
        Assert.Equal(5, round.OnTimeReports().Length);
        Assert.DoesNotContain(round.OnTimeReports(), r => r.Agent == "b" && r.Task == 0);
        Assert.Equal(5, round.ToLabelMatrix().AnswerCount);
        Assert.Equal(["a", "b", "c"], round.Agents().ToArray());
        var ev = RoundEvidence.Draw(round, 3);
        Assert.Equal(5, ev.Reports.Length);
        Assert.All(ev.Reports, e => Assert.True(e.Frequency > 0 && e.Frequency <= 1));
    }

    [Fact]
    public void Evidence_frequencies_count_the_own_report_and_one_report_per_other_task()
    {
        // Two agents on three tasks, so every peer and every sampled report is forced. a: 0 0 1, b: 0 1 1.
        // a, task 0 (y = 0): peer b says 0 → match; other tasks give b's 1, 1 → b = 0 matches, f = (1 + 0)/3 = 1/3.
        // a, task 1 (y = 0): peer says 1 → mismatch; others 0, 1 → f = 2/3.  a, task 2 (y = 1): match; others 0, 1 → f = 2/3.
        // b, task 0 (y = 0): match; others 0, 1 → f = 2/3.  b, task 1 (y = 1): mismatch; others 0, 1 → f = 2/3.
        // b, task 2 (y = 1): match; others 0, 0 → f = 1/3.
        var round = new Round(1, 3, 2,
            [new("a", 0, 0), new("a", 1, 0), new("a", 2, 1), new("b", 0, 0), new("b", 1, 1), new("b", 2, 1)]);
        var ev = RoundEvidence.Draw(round, 8).Reports;
        Assert.Equal([true, false, true, true, false, true], ev.Select(e => e.Matched).ToArray());
        double[] f = [1.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3, 1.0 / 3];
        for (int i = 0; i < f.Length; i++) Assert.Equal(f[i], ev[i].Frequency, 15);
    }

    [Fact]
    public void Decay_functions_decrease_from_one()
    {
        IDecayFunction[] fs = [new ExponentialDecay(), new LinearDecay(), new NoDecay()];
        foreach (var f in fs)
        {
            Assert.Equal(1, f.Factor(null));
            Assert.Equal(1, f.Factor(0), 15);
            Assert.True(f.Factor(100) >= f.Factor(200));
            Assert.InRange(f.Factor(1e9), 0, 1);
        }
        Assert.Equal(Math.Exp(-1), new ExponentialDecay(600).Factor(600), 15);
        Assert.Equal(0.5, new LinearDecay(600).Factor(300), 15);
        Assert.Equal(0, new LinearDecay(600).Factor(900));
    }
}
