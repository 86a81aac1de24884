"""`local-tfidf`: TF-IDF character n-grams + logistic regression; trains in about a second.

Character n-grams within words cope with the misspellings, hashtags and handles of short social-media texts
better than word n-grams, and adding word n-grams on top did not help on the reference split.

A trained model is stored as data only, never as a pickle (loading a pickle runs whatever code it names):
`tfidf.json` (format version, vocabulary, class labels) and `tfidf.npz` (idf weights, coefficients, intercepts; read
with allow_pickle=False). The vectorizer's settings are this module's constants, so the files hold no code or
options. Models from older versions (`tfidf.pkl`) are refused with a message to fine-tune again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from local_openai.trainers.base import (
    ClientError,
    Hyperparameters,
    Message,
    Predictor,
    TrainingCancelled,
    TrainingContext,
    TrainResult,
    requested_or_auto,
)
from local_openai.trainers.classifier import ClassifierPredictor, trained_tokens, training_pairs, validation_pairs

MODEL_JSON = "tfidf.json"
MODEL_ARRAYS = "tfidf.npz"
OLD_PICKLE = "tfidf.pkl"
FORMAT_VERSION = 1


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True)


def _pipeline(seed: int, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_vectorizer(), LogisticRegression(C=c, max_iter=2000, random_state=seed))


def save_model(model, directory: Path) -> None:
    features, classifier = (step for _, step in model.steps)
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / MODEL_ARRAYS, idf=features.idf_, coef=classifier.coef_, intercept=classifier.intercept_)
    (directory / MODEL_JSON).write_text(
        json.dumps(
            {
                "format": FORMAT_VERSION,
                "vocabulary": {term: int(index) for term, index in features.vocabulary_.items()},
                "classes": [str(label) for label in classifier.classes_],
            }
        )
    )


def load_model(directory: Path):
    """The fitted pipeline rebuilt from `save_model`'s files; ClientError for an old pickled model."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if not (directory / MODEL_JSON).exists() and (directory / OLD_PICKLE).exists():
        raise ClientError(
            "This local-tfidf model was saved by an older version of the server as a pickle, which is no "
            "longer loaded because loading a pickle can run code. Fine-tune it again: create a new "
            "fine-tuning job with the same training file.",
            code="model_not_available",
            param="model",
        )
    meta = json.loads((directory / MODEL_JSON).read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ClientError(
            f"This local-tfidf model has storage format {meta.get('format')!r}, which this server does "
            "not read; fine-tune it again.",
            code="model_not_available",
            param="model",
        )
    features = _vectorizer()
    classifier = LogisticRegression()
    with np.load(directory / MODEL_ARRAYS, allow_pickle=False) as arrays:
        features.vocabulary_ = meta["vocabulary"]
        features.idf_ = arrays["idf"]
        classifier.coef_, classifier.intercept_ = arrays["coef"], arrays["intercept"]
    classifier.classes_ = np.asarray(meta["classes"])
    return make_pipeline(features, classifier)


class TfidfTrainer:
    base_model = "local-tfidf"
    description = "TF-IDF character n-grams with logistic regression (scikit-learn)"
    answers_without_fine_tuning = False

    def resolve_hyperparameters(self, requested: dict[str, object], n_examples: int) -> Hyperparameters:
        return Hyperparameters(
            n_epochs=int(requested_or_auto(requested, "n_epochs", 1)),
            batch_size=int(requested_or_auto(requested, "batch_size", n_examples)),
            learning_rate_multiplier=float(requested_or_auto(requested, "learning_rate_multiplier", 1.0)),
        )

    def train(self, examples: Sequence[Sequence[Message]], ctx: TrainingContext) -> TrainResult:
        from sklearn.metrics import log_loss

        texts, labels = training_pairs(examples)
        if ctx.should_stop():
            raise TrainingCancelled()
        # learning_rate_multiplier scales the inverse regularisation strength: higher fits the data more closely.
        model = _pipeline(ctx.seed, 10.0 * ctx.hyperparameters.learning_rate_multiplier).fit(texts, labels)
        loss = float(log_loss(labels, model.predict_proba(texts), labels=model.classes_))
        accuracy = float((model.predict(texts) == labels).mean())
        validation: dict[str, float] = {}
        valid_texts, valid_labels = validation_pairs(ctx.validation_examples, list(model.classes_))
        if valid_texts:
            validation = {
                "valid_loss": float(log_loss(valid_labels, model.predict_proba(valid_texts), labels=model.classes_)),
                "valid_accuracy": float((model.predict(valid_texts) == valid_labels).mean()),
            }
        ctx.report(step=1, total_steps=1, train_loss=loss, train_accuracy=accuracy, **validation)
        save_model(model, ctx.output_dir)
        ctx.checkpoint(ctx.hyperparameters.n_epochs, 1, ctx.output_dir)
        n_tokens = trained_tokens(examples, ctx.hyperparameters.n_epochs)
        return TrainResult(trained_tokens=n_tokens, final_metrics={"train_loss": loss, "train_accuracy": accuracy})

    def load(self, model_dir: Path | None) -> Predictor:
        if model_dir is None:
            raise ValueError(f"{self.base_model} cannot answer before fine-tuning")
        model = load_model(model_dir)
        return ClassifierPredictor(lambda texts: [str(label) for label in model.predict(texts)])
