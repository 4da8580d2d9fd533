using System.Drawing;
using System.Net;
using System.Text.RegularExpressions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Tally.Tests;

/// <summary>
/// A test that needs the Debian <c>chromium</c> and <c>chromium-driver</c> packages (<see cref="DashboardBrowser"/>).
/// Where they are absent the test is skipped with a reason saying how to get them — unless
/// <see cref="RequireVariable"/> is 1 (CI sets it), and then a missing browser is a failure.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    /// <summary>Environment variable that, set to 1, turns a missing browser from a skip into a failure.</summary>
    public const string RequireVariable = "TALLY_REQUIRE_BROWSER";

    /// <summary>Skips the test when Chromium or its driver is missing, unless <see cref="RequireVariable"/> is 1.</summary>
    public BrowserFactAttribute()
    {
        if (SkipReason(DashboardBrowser.Installed, Environment.GetEnvironmentVariable(RequireVariable)) is { } reason) Skip = reason;
    }

    /// <summary>Why to skip (null = run): only when the browser is missing and not required.</summary>
    public static string? SkipReason(bool installed, string? require) =>
        installed || require is "1" or "true" ? null : "Chromium is not installed: apt-get install chromium chromium-driver (CI installs them)";
}

/// <summary>
/// Headless Chromium (the Debian package's <c>/usr/bin/chromium</c>, driven by its <c>/usr/bin/chromedriver</c> over
/// WebDriver; nothing is downloaded), with the helpers the dashboard tests need: the page's text, whether it scrolls
/// sideways, full-page screenshots at a given width, and the session cookie for plain HTTP requests.
/// </summary>
public sealed partial class DashboardBrowser : IDisposable
{
    /// <summary>The browser.</summary>
    public const string Chromium = "/usr/bin/chromium";
    /// <summary>Its WebDriver.</summary>
    public const string Driver = "/usr/bin/chromedriver";

    /// <summary>Whether both are installed.</summary>
    public static bool Installed => File.Exists(Chromium) && File.Exists(Driver);

    private readonly ChromeDriver _driver;
    private readonly Uri _base;

    /// <summary>A new browser (its own profile, no cookies) for the service at <paramref name="baseAddress"/>.</summary>
    public DashboardBrowser(Uri baseAddress)
    {
        if (!Installed) throw new Xunit.Sdk.XunitException($"{BrowserFactAttribute.RequireVariable}=1 but Chromium is not installed: apt-get install chromium chromium-driver");
        _base = baseAddress;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
            "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US", "--no-first-run", "--disable-extensions");
        var service = ChromeDriverService.CreateDefaultService(System.IO.Path.GetDirectoryName(Driver)!, System.IO.Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        _driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
    }

    /// <summary>The WebDriver.</summary>
    public IWebDriver WebDriver => _driver;

    /// <summary>Opens a path of the service.</summary>
    public void Go(string path) => _driver.Navigate().GoToUrl(new Uri(_base, path.TrimStart('/')));

    /// <summary>The current path and query.</summary>
    public string Path => new Uri(_driver.Url).PathAndQuery;

    /// <summary>The visible text of the page.</summary>
    public string Text => _driver.FindElement(By.TagName("body")).Text;

    /// <summary>The page's main heading.</summary>
    public string Heading => _driver.FindElement(By.TagName("h1")).Text;

    /// <summary>An element by CSS selector.</summary>
    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    /// <summary>Elements by CSS selector.</summary>
    public IReadOnlyList<IWebElement> FindAll(string css) => _driver.FindElements(By.CssSelector(css));

    /// <summary>Types into a field.</summary>
    public void Fill(string css, string text)
    {
        var e = Find(css);
        e.Clear();
        e.SendKeys(text);
    }

    /// <summary>Clicks a link or a submit button and waits until the next page has loaded.</summary>
    public void Click(string css)
    {
        var old = _driver.FindElement(By.TagName("html"));
        Find(css).Click();
        WaitFor(() =>
        {
            try
            {
                _ = old.Enabled;
                return false;
            }
            catch (Exception e) when (e is StaleElementReferenceException
                || (e is UnknownErrorException && e.Message.Contains("does not belong to the document", StringComparison.Ordinal)))
            {
                // The old page is gone (Chromium reports a node of the replaced document either way, now and then as
                // an inspector error).
                return (string?)_driver.ExecuteScript("return document.readyState;") == "complete";
            }
        });
    }

    /// <summary>Chooses an option of a select (no navigation).</summary>
    public void Choose(string css) => Find(css).Click();

    /// <summary>Waits (up to 10 s) until <paramref name="condition"/> holds, e.g. the next page after a click.</summary>
    public void WaitFor(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new Xunit.Sdk.XunitException($"timed out on {Path}:\n{Text}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Sets the window width (the height follows the page for screenshots).</summary>
    public void Width(int width) => _driver.Manage().Window.Size = new Size(width, 900);

    /// <summary>How far the page is wider than the window (0 = no horizontal scrolling).</summary>
    public long Overflow() =>
        Convert.ToInt64(_driver.ExecuteScript("return Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth);"), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A screenshot of the whole page at <paramref name="width"/> CSS pixels into <paramref name="file"/>; returns the page's horizontal overflow at that width.</summary>
    public long Screenshot(string file, int width)
    {
        _driver.Manage().Window.Size = new Size(width, 900);
        // A resize lays the page out again asynchronously: measure only once the viewport has the new width.
        WaitFor(() => Convert.ToInt64(_driver.ExecuteScript("return window.innerWidth;"), System.Globalization.CultureInfo.InvariantCulture) == width);
        long overflow = Overflow();
        // The window's height is the page's plus the browser's own frame, so the screenshot holds the whole page.
        long height = Convert.ToInt64(_driver.ExecuteScript("return document.documentElement.scrollHeight + (window.outerHeight - window.innerHeight);"), System.Globalization.CultureInfo.InvariantCulture);
        _driver.Manage().Window.Size = new Size(width, (int)Math.Clamp(height, 400, 8000));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        _driver.GetScreenshot().SaveAsFile(file);
        _driver.Manage().Window.Size = new Size(1280, 900);
        return overflow;
    }

    /// <summary>The browser's cookies for the service, for plain HTTP requests made on its behalf.</summary>
    public CookieContainer Cookies()
    {
        var jar = new CookieContainer();
        foreach (var c in _driver.Manage().Cookies.AllCookies) jar.Add(_base, new System.Net.Cookie(c.Name, c.Value, c.Path, _base.Host));
        return jar;
    }

    /// <inheritdoc />
    public void Dispose() => _driver.Quit();

    /// <summary>The value of the hidden antiforgery field in <paramref name="html"/>.</summary>
    public static string FormToken(string html) => TokenField().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new Xunit.Sdk.XunitException("no form token in the page");

    [GeneratedRegex("name=\"_token\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}
