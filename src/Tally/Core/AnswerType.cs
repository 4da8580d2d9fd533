namespace Tally.Core;

/// <summary>
/// What kind of answer a crowd gives to a task, which decides how the answers are read and which truth-inference
/// methods apply (<c>tally aggregate --type</c>; a service project's type).
/// </summary>
public enum AnswerType
{
    /// <summary>One class out of a finite set per answer (<c>task,worker,label</c>); the default.</summary>
    Categorical,
    /// <summary>A real number per answer (<c>task,worker,label</c> with a numeric label): ratings, counts, prices.</summary>
    Numeric,
    /// <summary>Which of two items is better (<c>worker,left,right,label</c> with label = the winner).</summary>
    Pairwise,
    /// <summary>A set of labels per answer (<c>task,worker,label</c> with <c>|</c>-separated labels).</summary>
    Multilabel,
}
